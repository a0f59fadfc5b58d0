using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.ServiceDefaults.Telemetry;

/// <summary>How an OTLP endpoint is spoken to.</summary>
public enum OtlpProtocol
{
    /// <summary>OTLP over gRPC (a collector's port 4317 by convention).</summary>
    Grpc,

    /// <summary>OTLP over HTTP with protobuf bodies (port 4318); each signal is posted to its path, <c>/v1/traces</c>, <c>/v1/metrics</c>, <c>/v1/logs</c>.</summary>
    HttpProtobuf,
}

/// <summary>Traces, metrics and logs export (section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions : ISectionOptions<TelemetryOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Telemetry";

    /// <inheritdoc />
    public static IValidateOptions<TelemetryOptions> Validator { get; } = new TelemetryOptionsValidator();

    /// <summary>OTLP endpoint for traces, metrics and logs; no export when empty.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>The protocol <see cref="OtlpEndpoint"/> speaks.</summary>
    public OtlpProtocol OtlpProtocol { get; set; } = OtlpProtocol.Grpc;

    /// <summary>How often metrics are pushed to <see cref="OtlpEndpoint"/> (Prometheus pulls <c>/metrics</c> at its own pace).</summary>
    public TimeSpan OtlpMetricPeriod { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Also begin traces where Orleans' runtime begins work by itself (membership, directory, dashboard polling, grain
    /// timers) and for the event shipping's calls; by default only the Coordinator's own calls begin a trace.
    /// </summary>
    public bool TraceRuntime { get; set; }

    /// <summary>Export log lines, with the trace and span they were written in, to <see cref="OtlpEndpoint"/>.</summary>
    public bool ExportLogs { get; set; } = true;

    /// <summary>Whether log lines leave the node over OTLP: an endpoint is set and <see cref="ExportLogs"/> is on.</summary>
    public bool ExportsLogs() => !string.IsNullOrEmpty(OtlpEndpoint) && ExportLogs;

    /// <summary>
    /// Keep Orleans' per-message size histograms (<c>orleans-messaging-sent-messages-size</c> and
    /// <c>orleans-messaging-received-messages-size</c>). Off by default: Orleans records them for every message, two per
    /// grain call on each side, with labels it formats each time, a cost every call pays; the sizes that matter
    /// (operations and their outputs) are in <c>coordinator_handler_request_bytes_total</c> and <c>_response_bytes_total</c>.
    /// </summary>
    public bool MessageSizes { get; set; }

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

        OptionRules.Period(errors, $"{TelemetryOptions.SectionName}:OtlpMetricPeriod", options.OtlpMetricPeriod);
        return OptionRules.Result(errors);
    }
}
