using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Silo.Configuration;
using Coordinator.Silo.Hosting;
using Coordinator.Silo.Persistence;
using Coordinator.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Coordinator.Hosting.Processes;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Coordinator.Silo.Tests;

/// <summary>One real redis-server for the test class; flushed before each test.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Redis { get; private set; } = null!;

    public async Task InitializeAsync() => Redis = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await Redis.DisposeAsync();

    /// <summary>Settings of one silo of a Redis-backed cluster on fresh loopback ports.</summary>
    internal SiloSettings Settings(string serviceId = "svc", string clusterId = "test-cluster") =>
        SiloSettings.Load(null, new Dictionary<string, string?>
        {
            ["Persistence:RedisConnectionString"] = Redis.ConnectionString,
            ["Cluster:ServiceId"] = serviceId,
            ["Cluster:ClusterId"] = clusterId,
            ["Cluster:SiloPort"] = Port(),
            ["Cluster:GatewayPort"] = Port(),
            ["Http:Port"] = Port(),
        }, new Dictionary<string, string?>()).Settings;

    /// <summary>Starts a silo in this process with exactly the composition of the silo binary.</summary>
    internal static async Task<WebApplication> StartSiloAsync(SiloSettings settings)
    {
        var configuration = new ConfigurationBuilder().Build();
        var connection = await RedisBackend.ConnectAsync(settings.Persistence);
        var app = SiloHost.Build(settings, configuration, connection);
        await SiloHost.StartAsync(app, settings, System.Diagnostics.Stopwatch.GetTimestamp());
        return app;
    }

    /// <summary>A connected client process-part, as a .NET program would make one.</summary>
    internal static async Task<(IHost Host, CoordinatorClient Client)> ConnectAsync(SiloSettings settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddCoordinatorClusterClient(settings.Cluster, settings.Persistence);
        var host = builder.Build();
        await host.StartAsync();
        return (host, host.Services.GetRequiredService<CoordinatorClient>());
    }

    public static string Port() => FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);
}
