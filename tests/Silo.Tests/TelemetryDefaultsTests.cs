using System.Diagnostics.Metrics;
using Coordinator.Contracts.Telemetry;
using Coordinator.ServiceDefaults.Telemetry;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Silo.Tests;

/// <summary>
/// What the service defaults listen to: meters only where something exports them, and Orleans' per-message size
/// histograms only when asked for. (The only tests of this assembly that listen to meters in its own process.)
/// </summary>
public sealed class TelemetryDefaultsTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Orleans_message_size_histograms_are_listened_to_only_when_asked_for(bool messageSizes)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddCoordinatorServiceDefaults(new TelemetryOptions { MessageSizes = messageSizes }, "test", "node-1");
        using var host = builder.Build();
        await host.StartAsync();

        // Instruments of Orleans' meter as Orleans makes them; it records a histogram only while it is enabled.
        using var orleans = new Meter("Microsoft.Orleans");
        var sent = orleans.CreateHistogram<int>("orleans-messaging-sent-messages-size", "bytes");
        var received = orleans.CreateHistogram<int>("orleans-messaging-received-messages-size", "bytes");
        var gateway = orleans.CreateCounter<int>("orleans-gateway-received");

        Assert.Equal(messageSizes, sent.Enabled);
        Assert.Equal(messageSizes, received.Enabled);
        Assert.True(gateway.Enabled);
        await host.StopAsync();
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Meters_are_listened_to_only_where_metrics_are_exported(bool prometheus, bool otlp)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var telemetry = new TelemetryOptions { PrometheusEnabled = prometheus, OtlpEndpoint = otlp ? "http://127.0.0.1:4317" : null };
        builder.AddCoordinatorServiceDefaults(telemetry, "test", "node-1");
        using var host = builder.Build();
        await host.StartAsync();

        // With neither exporter nothing listens (OpenTelemetry enables an instrument only for a provider that has a reader),
        // so the handler filter measures nothing, as with telemetry off.
        using var coordinator = new Meter(CoordinatorTelemetry.MeterName);
        var duration = coordinator.CreateHistogram<double>("coordinator.test.duration", "s");
        Assert.Equal(prometheus || otlp, duration.Enabled);
        await host.StopAsync();
    }
}
