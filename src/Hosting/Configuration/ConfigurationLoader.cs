using Microsoft.Extensions.Configuration;

namespace Coordinator.Hosting.Configuration;

/// <summary>
/// Builds the configuration of a Coordinator executable from, in rising precedence: an optional JSON file,
/// environment variables prefixed <c>COORDINATOR_</c> (sections separated by <c>__</c>), and command-line overrides.
/// Nothing else is read, so every key seen can be checked against the known options.
/// </summary>
public static class ConfigurationLoader
{
    /// <summary>Prefix of environment variables read as configuration.</summary>
    public const string EnvironmentPrefix = "COORDINATOR_";

    /// <summary>Loads configuration; throws <see cref="ConfigurationException"/> if the file is missing or not valid JSON.</summary>
    public static IConfigurationRoot Load(string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            var full = Path.GetFullPath(configFile);
            if (!File.Exists(full))
            {
                throw new ConfigurationException([$"Configuration file '{full}' does not exist."]);
            }

            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
        }

        if (environment is null)
        {
            builder.AddEnvironmentVariables(EnvironmentPrefix);
        }
        else
        {
            // Same mapping as the environment provider, from an explicit set (tests, child processes).
            builder.AddInMemoryCollection(environment
                .Where(e => e.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                .Select(e => KeyValuePair.Create(e.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), e.Value)));
        }

        builder.AddInMemoryCollection(overrides.Where(o => o.Value is not null));
        try
        {
            return builder.Build();
        }
        catch (InvalidDataException ex)
        {
            throw new ConfigurationException([$"Configuration file '{configFile}' is not valid JSON: {ex.InnerException?.Message ?? ex.Message}"]);
        }
        catch (FormatException ex)
        {
            throw new ConfigurationException([$"Configuration file '{configFile}' is not valid: {ex.Message}"]);
        }
    }
}

/// <summary>Configuration was invalid; <see cref="Errors"/> names every offending key.</summary>
public sealed class ConfigurationException : Exception
{
    /// <summary>Creates the exception from the list of problems.</summary>
    public ConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e))) => Errors = errors;

    /// <summary>One line per problem, each starting with the key it is about.</summary>
    public IReadOnlyList<string> Errors { get; }
}
