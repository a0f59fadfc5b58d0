using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Hosting.Processes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.Benchmarks;

/// <summary>The silo binary on the embedded default, on fresh loopback ports, and this process connected as a client.</summary>
internal sealed class EmbeddedCluster : IAsyncDisposable
{
    private EmbeddedCluster(ChildProcess silo, IHost host, CoordinatorClusterOptions options, int httpPort)
    {
        MetricsUrl = $"http://127.0.0.1:{httpPort}/metrics";
        Silo = silo;
        Host = host;
        Options = options;
        Client = host.Services.GetRequiredService<CoordinatorClient>();
    }

    public ChildProcess Silo { get; }

    /// <summary>The silo's Prometheus endpoint.</summary>
    public string MetricsUrl { get; }

    public IHost Host { get; }

    public CoordinatorClusterOptions Options { get; }

    public CoordinatorClient Client { get; }

    /// <summary>Starts the silo on the embedded default, or on Redis when <paramref name="redis"/> (a connection string) is given.</summary>
    public static async Task<EmbeddedCluster> StartAsync(IReadOnlyDictionary<string, string>? environment = null, string? redis = null)
    {
        var options = new CoordinatorClusterOptions { SiloPort = FreePorts.Next(), GatewayPort = FreePorts.Next() };
        var httpPort = FreePorts.Next();
        var silo = ChildProcess.StartDotnet(
            Path.Combine(AppContext.BaseDirectory, "Coordinator.Silo.dll"),
            ["--http-port", $"{httpPort}", "--silo-port", $"{options.SiloPort}", "--gateway-port", $"{options.GatewayPort}", .. redis is null ? Array.Empty<string>() : ["--redis", redis]],
            environment);
        await silo.WaitUntilHealthyAsync($"http://127.0.0.1:{httpPort}/health/ready", TimeSpan.FromSeconds(60));

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddCoordinatorClusterClient(options, new PersistenceOptions { RedisConnectionString = redis });
        var host = builder.Build();
        await host.StartAsync();
        return new EmbeddedCluster(silo, host, options, httpPort);
    }

    private bool _disposed;

    /// <summary>Disconnects, then stops the silo as Ctrl-C would; once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await Host.StopAsync();
        Host.Dispose();
        await Silo.StopAsync(TimeSpan.FromSeconds(30));
        await Silo.DisposeAsync();
    }
}
