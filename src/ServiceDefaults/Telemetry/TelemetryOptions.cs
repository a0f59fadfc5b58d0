using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.ServiceDefaults.Telemetry;

/// <summary>Traces and metrics export (section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions : ISectionOptions<TelemetryOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Telemetry";

    /// <inheritdoc />
    public static IValidateOptions<TelemetryOptions> Validator { get; } = new TelemetryOptionsValidator();

    /// <summary>OTLP endpoint for traces and metrics; no export when empty.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Serve Prometheus metrics at /metrics.</summary>
    public bool PrometheusEnabled { get; set; } = true;
}

/// <summary>Validates <see cref="TelemetryOptions"/>.</summary>
public sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(options.OtlpEndpoint)
            && !(Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            errors.Add($"{TelemetryOptions.SectionName}:OtlpEndpoint: '{options.OtlpEndpoint}' is not an absolute http(s) URL.");
        }

        return OptionRules.Result(errors);
    }
}
