using System.Diagnostics.Metrics;
using Coordinator.ServiceDefaults.Telemetry;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Silo.Tests;

/// <summary>What the service defaults listen to: Orleans' per-message size histograms only when asked for.</summary>
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
}
