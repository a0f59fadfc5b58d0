using System.Collections;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Coordinator.Client.Configuration;

namespace Coordinator.Hosting.Configuration;

/// <summary>
/// Binds an executable's settings class (one property per section, each an <see cref="ISectionOptions{TSelf}"/>)
/// from configuration, rejecting unknown sections and keys and values that do not convert, then validates every
/// section with its own rules (<see cref="SectionOptions.Problems{TOptions}"/>) and the settings with
/// <see cref="ISettingsRules"/> when it has rules across sections. All problems are reported at once.
/// </summary>
public static class SettingsBinder
{
    /// <summary>Sections that belong to the .NET host rather than to a Coordinator options class.</summary>
    public static readonly IReadOnlySet<string> PassThroughSections = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Logging" };

    /// <summary>Binds and validates; throws <see cref="ConfigurationException"/> naming every offending key.</summary>
    public static TSettings Bind<TSettings>(IConfiguration configuration)
        where TSettings : new()
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var errors = new List<string>();
        var settings = new TSettings();
        var sections = Sections(typeof(TSettings)).ToDictionary(s => s.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in configuration.GetChildren())
        {
            if (!sections.ContainsKey(child.Key) && !PassThroughSections.Contains(child.Key))
            {
                errors.Add($"{child.Key}: unknown section; known sections: {string.Join(", ", sections.Keys.Order(StringComparer.Ordinal))}.");
            }
        }

        foreach (var section in sections.Values)
        {
            var value = section.Property.GetValue(settings)!;
            var config = configuration.GetSection(section.Name);
            CheckKeys(config, value.GetType(), section.Name, errors);
            try
            {
                config.Bind(value);
            }
            catch (InvalidOperationException ex)
            {
                errors.Add($"{section.Name}: {ex.InnerException?.Message ?? ex.Message}");
            }
        }

        if (errors.Count == 0)
        {
            foreach (var section in sections.Values)
            {
                var problems = ProblemsMethod.MakeGenericMethod(section.Property.PropertyType);
                errors.AddRange((IReadOnlyList<string>)problems.Invoke(null, [section.Property.GetValue(settings)])!);
            }

            if (settings is ISettingsRules rules)
            {
                errors.AddRange(rules.Problems());
            }
        }

        return errors.Count == 0 ? settings : throw new ConfigurationException(errors);
    }

    private static readonly MethodInfo ProblemsMethod = typeof(SectionOptions).GetMethod(nameof(SectionOptions.Problems))!;

    /// <summary>The sections of a settings class: each property whose type is an <see cref="ISectionOptions{TSelf}"/>.</summary>
    public static IEnumerable<(string Name, PropertyInfo Property)> Sections(Type settingsType)
    {
        ArgumentNullException.ThrowIfNull(settingsType);
        foreach (var property in settingsType.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var type = property.PropertyType;
            if (type.GetInterfaces().Contains(typeof(ISectionOptions<>).MakeGenericType(type)))
            {
                yield return ((string)type.GetProperty("SectionName", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!, property);
            }
        }
    }

    private static void CheckKeys(IConfigurationSection config, Type optionsType, string path, List<string> errors)
    {
        var properties = optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in config.GetChildren())
        {
            var key = $"{path}:{child.Key}";
            if (!properties.TryGetValue(child.Key, out var property))
            {
                errors.Add($"{key}: unknown key; known keys of {path}: {string.Join(", ", properties.Keys.Order(StringComparer.Ordinal))}.");
                continue;
            }

            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var isScalar = type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);
            if (isScalar && child.GetChildren().Any())
            {
                errors.Add($"{key}: expected a single value, found a section.");
            }
            else if (isScalar && child.Value is { } raw && !Converts(raw, type))
            {
                errors.Add($"{key}: '{raw}' is not a valid {Describe(type)}.");
            }
            else if (!isScalar && !typeof(IEnumerable).IsAssignableFrom(type))
            {
                CheckKeys(child, type, key, errors);
            }
        }
    }

    private static bool Converts(string raw, Type type)
    {
        if (type == typeof(string))
        {
            return true;
        }

        if (type.IsEnum)
        {
            return Enum.TryParse(type, raw, ignoreCase: true, out var parsed) && Enum.IsDefined(type, parsed!) && !raw.All(char.IsAsciiDigit);
        }

        if (type == typeof(TimeSpan))
        {
            return TimeSpan.TryParse(raw, CultureInfo.InvariantCulture, out _);
        }

        try
        {
            _ = Convert.ChangeType(raw, type, CultureInfo.InvariantCulture);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or InvalidCastException)
        {
            return false;
        }
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(TimeSpan) => "duration (hh:mm:ss)",
        _ when type == typeof(bool) => "boolean (true/false)",
        _ when type.IsEnum => $"value (one of: {string.Join(", ", Enum.GetNames(type))})",
        _ when type == typeof(int) || type == typeof(long) => "whole number",
        _ => type.Name,
    };
}

/// <summary>Rules across the sections of a settings class (each section's own rules live with its options).</summary>
public interface ISettingsRules
{
    /// <summary>One line per problem, each starting with the key it is about.</summary>
    IEnumerable<string> Problems();
}
