using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Sessions;

/// <summary>Session leases and per-owner limits (section <c>Sessions</c>).</summary>
public sealed class SessionOptions : ISectionOptions<SessionOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Sessions";

    /// <inheritdoc />
    public static IValidateOptions<SessionOptions> Validator { get; } = new SessionOptionsValidator();

    /// <summary>A session without a heartbeat for this long expires and releases its models.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often an active session checks its own lease.</summary>
    public TimeSpan ExpiryCheckPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most live models one owner token may hold across all its sessions.</summary>
    [Range(1, 100_000)]
    public int MaxModelsPerToken { get; set; } = 32;
}

/// <summary>Validates <see cref="SessionOptions"/> beyond its annotations.</summary>
public sealed class SessionOptionsValidator : IValidateOptions<SessionOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = SessionOptions.SectionName;
        var errors = new List<string>();
        OptionRules.Period(errors, $"{section}:IdleTimeout", options.IdleTimeout);
        OptionRules.Period(errors, $"{section}:ExpiryCheckPeriod", options.ExpiryCheckPeriod);
        if (options.ExpiryCheckPeriod > options.IdleTimeout)
        {
            errors.Add($"{section}:ExpiryCheckPeriod: must not exceed {section}:IdleTimeout ({options.IdleTimeout}).");
        }

        return OptionRules.Result(errors);
    }
}
