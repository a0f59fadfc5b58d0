using Coordinator.Client.Hosting;
using Coordinator.Hosting.Processes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.TrainerHost.Tests;

/// <summary>
/// The processes of a test cluster (silo and trainer host binaries from this output folder) and this process's client
/// connection to it; disposing disconnects, then kills every process.
/// </summary>
public sealed class ClusterProcesses : IAsyncDisposable
{
    private readonly List<ChildProcess> _processes = [];
    private IHost? _client;

    public IReadOnlyList<ChildProcess> All => _processes;

    /// <summary>The configuration of a trainer host with the tests' tiny base model (2 layers x 32, context 16).</summary>
    public static Dictionary<string, string> TinyTrainer(string baseModel) => new()
    {
        ["COORDINATOR_Trainer__BaseModel"] = baseModel,
        ["COORDINATOR_Trainer__Layers"] = "2",
        ["COORDINATOR_Trainer__Width"] = "32",
        ["COORDINATOR_Trainer__Heads"] = "2",
        ["COORDINATOR_Trainer__ContextLength"] = "16",
        ["COORDINATOR_Trainer__HeartbeatPeriod"] = "00:00:01",
    };

    public ChildProcess Start(string assembly, string[] args, IReadOnlyDictionary<string, string> environment)
    {
        var process = ChildProcess.StartDotnet(Path.Combine(AppContext.BaseDirectory, assembly), args, environment);
        _processes.Add(process);
        return process;
    }

    /// <summary>Connects this process to the cluster as an Orleans client; returns its services (CoordinatorClient among them).</summary>
    public async Task<IServiceProvider> ConnectAsync(CoordinatorClusterOptions cluster, PersistenceOptions persistence)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddCoordinatorClusterClient(cluster, persistence);
        _client = builder.Build();
        await _client.StartAsync();
        return _client.Services;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync();
            _client.Dispose();
        }

        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
    }
}
