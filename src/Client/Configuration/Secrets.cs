namespace Coordinator.Client.Configuration;

/// <summary>Keeps secrets (values marked <see cref="SecretAttribute"/>) out of printed configuration, errors and logs.</summary>
public static class Secrets
{
    /// <summary>What a redacted value is replaced with.</summary>
    public const string Mask = "***";

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
    public static string Redact(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var looksLikeConnectionString = value.Contains(',', StringComparison.Ordinal) || value.Contains(':', StringComparison.Ordinal);
        return looksLikeConnectionString ? RedactConnectionString(value) : Mask;
    }
}
