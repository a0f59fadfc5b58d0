using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Coordinator.Client.Hosting;

/// <summary>Which backend grain state lives in.</summary>
public enum PersistenceProvider
{
    /// <summary>In-process memory: the embedded default; state is lost when the silo stops.</summary>
    Memory,
    /// <summary>A Redis server shared by every silo of the cluster: clustering, grain state and reminders.</summary>
    Redis,
}

/// <summary>The shared state backend (section <c>Persistence</c>); clients find the cluster's gateways through it.</summary>
public sealed class PersistenceOptions : ISectionOptions<PersistenceOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Persistence";

    /// <inheritdoc />
    public static IValidateOptions<PersistenceOptions> Validator { get; } = new PersistenceOptionsValidator();

    /// <summary>The backend; when not set, Redis if a connection string is given, otherwise memory.</summary>
    public PersistenceProvider? Provider { get; set; }

    /// <summary>StackExchange.Redis connection string, for example <c>127.0.0.1:6379,password=...</c>.</summary>
    [Secret]
    public string? RedisConnectionString { get; set; }

    /// <summary>The backend in effect.</summary>
    public PersistenceProvider EffectiveProvider =>
        Provider ?? (string.IsNullOrWhiteSpace(RedisConnectionString) ? PersistenceProvider.Memory : PersistenceProvider.Redis);

    /// <summary>
    /// The Redis connection, parsed from <see cref="RedisConnectionString"/> (a new object each call: StackExchange.Redis
    /// configurations are mutable). Throws <see cref="InvalidOperationException"/> when the backend is not Redis.
    /// </summary>
    public ConfigurationOptions Redis() =>
        EffectiveProvider == PersistenceProvider.Redis && !string.IsNullOrWhiteSpace(RedisConnectionString)
            ? ConfigurationOptions.Parse(RedisConnectionString)
            : throw new InvalidOperationException($"{SectionName}:RedisConnectionString is not set; the backend is {EffectiveProvider}.");
}

/// <summary>Validates <see cref="PersistenceOptions"/>.</summary>
public sealed class PersistenceOptionsValidator : IValidateOptions<PersistenceOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, PersistenceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = PersistenceOptions.SectionName;
        var errors = new List<string>();
        var hasRedis = !string.IsNullOrWhiteSpace(options.RedisConnectionString);
        if (options.Provider == PersistenceProvider.Memory && hasRedis)
        {
            errors.Add($"{section}:RedisConnectionString: is set but {section}:Provider is Memory; remove one of them.");
        }
        else if (options.EffectiveProvider == PersistenceProvider.Redis)
        {
            if (!hasRedis)
            {
                errors.Add($"{section}:RedisConnectionString: is required when {section}:Provider is Redis.");
            }
            else
            {
                try
                {
                    if (options.Redis().EndPoints.Count == 0)
                    {
                        errors.Add($"{section}:RedisConnectionString: names no host:port endpoint.");
                    }
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{section}:RedisConnectionString: is not a valid Redis connection string ({Secrets.RedactConnectionString(ex.Message)}).");
                }
            }
        }

        return OptionRules.Result(errors);
    }
}
