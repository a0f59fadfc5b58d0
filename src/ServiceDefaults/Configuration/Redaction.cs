using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Coordinator.Contracts.Configuration;

namespace Coordinator.ServiceDefaults.Configuration;

/// <summary>Keeps secrets out of printed configuration and logs.</summary>
public static class Redaction
{
    /// <summary>What a redacted value is replaced with.</summary>
    public const string Mask = "***";

    private static readonly JsonSerializerOptions PrintOptions = new()
    {
        WriteIndented = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { RedactSecrets } },
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Masks <c>password=</c> (and <c>user=</c>) parts of a comma-separated connection string; keeps hosts visible.</summary>
    public static string RedactConnectionString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return string.Join(',', value.Split(',').Select(part =>
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? "" : part[..eq].Trim();
            return key.Equals("password", StringComparison.OrdinalIgnoreCase) || key.Equals("user", StringComparison.OrdinalIgnoreCase)
                ? $"{part[..(eq + 1)]}{Mask}"
                : part;
        }));
    }

    /// <summary>Redacts a secret value: connection strings keep their hosts, anything else is masked whole.</summary>
    public static string RedactSecret(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var looksLikeConnectionString = value.Contains(',', StringComparison.Ordinal) || value.Contains(':', StringComparison.Ordinal);
        return looksLikeConnectionString ? RedactConnectionString(value) : Mask;
    }

    /// <summary>
    /// Renders a settings object as indented JSON: sections by their configuration names, durations as
    /// <c>hh:mm:ss</c>, enums by name, derived read-only values left out, and every <see cref="SecretAttribute"/> value redacted.
    /// </summary>
    public static string ToRedactedJson(object settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var sections = SettingsBinder.Sections(settings.GetType())
            .ToDictionary(s => s.Name, s => s.Property.GetValue(settings));
        return JsonSerializer.Serialize(sections, PrintOptions);
    }

    private static void RedactSecrets(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }

        foreach (var property in info.Properties.ToList())
        {
            var member = property.AttributeProvider as PropertyInfo;
            if (member is { CanWrite: false })
            {
                info.Properties.Remove(property);
            }
            else if (member?.GetCustomAttribute<SecretAttribute>() is not null && property.Get is { } get)
            {
                property.Get = o => get(o) is string s && s.Length > 0 ? RedactSecret(s) : null;
            }
        }
    }
}
