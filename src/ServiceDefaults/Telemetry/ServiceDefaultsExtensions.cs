using Coordinator.Client.Hosting;
using Coordinator.Contracts.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Diagnostics;

namespace Coordinator.ServiceDefaults.Telemetry;

/// <summary>Telemetry and health wiring shared by every Coordinator executable.</summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Health check tag: the process is up (liveness).</summary>
    public const string LiveTag = "live";

    /// <summary>Health check tag: the node can serve requests (readiness).</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Metrics (Orleans, Coordinator, .NET runtime, the thread-pool canary) on a Prometheus scrape endpoint; when an OTLP
    /// endpoint is configured, traces (Coordinator and Orleans sources), metrics and log lines (each with the trace and
    /// span it was written in) exported to it, and duration histograms carrying exemplars (the trace of a measured
    /// call); a liveness health check.
    /// </summary>
    public static IHostApplicationBuilder AddCoordinatorServiceDefaults(this IHostApplicationBuilder builder, TelemetryOptions telemetry, string serviceName, string nodeId)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(telemetry);
        var otlp = !string.IsNullOrEmpty(telemetry.OtlpEndpoint);
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName, serviceInstanceId: nodeId));
        if (otlp)
        {
            // Spans are recorded only when something receives them: unexported, they would cost every grain call
            // (and storage access) an activity for nothing.
            otel.WithTracing(t => t
                .SetSampler(new ParentBasedSampler(telemetry.TraceRuntime ? new AlwaysOnSampler() : new RootSampler()))
                .AddSource(CoordinatorTelemetry.SourceName)
                .AddSource(ActivitySources.AllActivitySourceName) // grain calls, activation lifecycle, storage
                .AddOtlpExporter(o => Export(o, telemetry, "traces")));
        }

        otel.WithMetrics(m =>
        {
            m.AddMeter("Microsoft.Orleans", CoordinatorTelemetry.MeterName).AddRuntimeInstrumentation();
            if (!telemetry.MessageSizes)
            {
                // Dropped, these instruments have no listener, and Orleans skips recording them.
                m.AddView("orleans-messaging-sent-messages-size", MetricStreamConfiguration.Drop)
                    .AddView("orleans-messaging-received-messages-size", MetricStreamConfiguration.Drop);
            }

            if (telemetry.PrometheusEnabled)
            {
                m.AddPrometheusExporter();
            }

            if (otlp)
            {
                // Exemplars only where a call was traced (recorded): without spans, an exemplar would name a trace nobody has.
                m.SetExemplarFilter(ExemplarFilterType.TraceBased);
                m.AddOtlpExporter((o, reader) =>
                {
                    Export(o, telemetry, "metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)Math.Min(telemetry.OtlpMetricPeriod.TotalMilliseconds, int.MaxValue);
                });
            }
        });
        if (telemetry.ExportsLogs())
        {
            otel.WithLogging(
                l => l.AddProcessor(new RecordedContextProcessor()).AddOtlpExporter(o => Export(o, telemetry, "logs")),
                o =>
                {
                    o.IncludeFormattedMessage = true;
                    o.IncludeScopes = true;
                });
        }

        builder.Services.AddHealthChecks().AddCheck("process", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>Points an OTLP exporter at the endpoint; over HTTP each signal has its own path, which the exporter does not add to an endpoint set in code.</summary>
    private static void Export(OtlpExporterOptions exporter, TelemetryOptions telemetry, string signal)
    {
        var endpoint = new Uri(telemetry.OtlpEndpoint!);
        if (telemetry.OtlpProtocol == OtlpProtocol.HttpProtobuf)
        {
            exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
            endpoint = new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/v1/" + signal);
        }

        exporter.Endpoint = endpoint;
    }

    /// <summary>
    /// Single-line console logs. Orleans and ASP.NET Core log at Warning and above unless the <c>Logging</c>
    /// section says otherwise, so the Coordinator's own lines stay readable.
    /// </summary>
    public static IHostApplicationBuilder AddCoordinatorLogging(this IHostApplicationBuilder builder, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        builder.Logging.AddFilter("Orleans", LogLevel.Warning).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Polly", LogLevel.Warning);
        builder.Logging.AddConfiguration(configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        return builder;
    }

    /// <summary>Maps <c>/health</c> (every check), <c>/health/live</c>, <c>/health/ready</c> and, if enabled, <c>/metrics</c>.</summary>
    public static WebApplication MapCoordinatorDefaultEndpoints(this WebApplication app, TelemetryOptions telemetry)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(telemetry);
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = WriteReportAsync });
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = c => c.Tags.Contains(LiveTag), ResponseWriter = WriteReportAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteReportAsync });
        if (telemetry.PrometheusEnabled)
        {
            app.MapPrometheusScrapingEndpoint("/metrics");
        }

        return app;
    }

    /// <summary>A small JSON body: overall status and each check's status and description.</summary>
    private static Task WriteReportAsync(HttpContext context, HealthReport report) =>
        context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
}
