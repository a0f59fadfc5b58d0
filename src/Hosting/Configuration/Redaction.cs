using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Coordinator.Client.Configuration;

namespace Coordinator.Hosting.Configuration;

/// <summary>Prints a settings object with its secrets redacted (see <see cref="Secrets"/>).</summary>
public static class Redaction
{
    private static readonly JsonSerializerOptions PrintOptions = new()
    {
        WriteIndented = true,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { RedactSecrets } },
        Converters = { new JsonStringEnumConverter() },
    };

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

    /// <summary>A short hash of the effective configuration (secrets redacted), so two nodes' configurations can be compared.</summary>
    public static string ConfigHash(object settings) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ToRedactedJson(settings))))[..16];

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
                property.Get = o => get(o) is string s && s.Length > 0 ? Secrets.Redact(s) : null;
            }
        }
    }
}
