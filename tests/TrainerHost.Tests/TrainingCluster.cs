using System.Diagnostics;
using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Coordinator.Hosting.Processes;
using Coordinator.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Coordinator.TrainerHost.Tests;

/// <summary>
/// Real processes on the embedded default: the coordinator silo binary and trainer host binaries (tiny CPU model,
/// one torch thread), plus this process as a cluster client. Trainers are started per test under their own base
/// model name, so each test has its own pool of LoRA slots.
/// </summary>
public class TrainingCluster : IAsyncLifetime
{
    /// <summary>Bound on declaring a replica dead: heartbeat timeout plus the liveness check period.</summary>
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly ClusterProcesses _processes = new();
    private readonly Dictionary<string, ChildProcess> _trainers = [];
    private readonly int _siloPort = FreePorts.Next();
    private readonly int _gatewayPort = FreePorts.Next();
    private readonly int _httpPort = FreePorts.Next();
    private RedisServer? _redis;

    /// <summary>On the embedded default (memory persistence, development clustering).</summary>
    public TrainingCluster()
        : this(useRedis: false)
    {
    }

    /// <summary>With <paramref name="useRedis"/>, every process uses a real redis-server for clustering and state.</summary>
    protected TrainingCluster(bool useRedis) => UseRedis = useRedis;

    public bool UseRedis { get; }

    private string[] RedisArgs => _redis is null ? [] : ["--redis", _redis.ConnectionString];

    public string StateDirectory { get; } = Directory.CreateTempSubdirectory("coordinator-trainer-tests-").FullName;

    public CoordinatorClient Client { get; private set; } = null!;

    public ChildProcess Silo { get; private set; } = null!;

    /// <summary>The silo's HTTP endpoint (health, metrics, timeline).</summary>
    public string SiloHttp => $"http://127.0.0.1:{_httpPort}";

    /// <summary>More configuration every process of the cluster is started with (environment variables), set before <see cref="InitializeAsync"/>.</summary>
    protected Dictionary<string, string> ProcessEnvironment { get; } = [];

    public virtual async Task InitializeAsync()
    {
        _redis = UseRedis ? await RedisServer.StartAsync() : null;
        Silo = Start("Coordinator.Silo.dll",
            ["run", "--silo-port", $"{_siloPort}", "--gateway-port", $"{_gatewayPort}", "--http-port", $"{_httpPort}", .. RedisArgs],
            new Dictionary<string, string>
            {
                ["COORDINATOR_Replicas__HeartbeatTimeout"] = HeartbeatTimeout.ToString(),
                ["COORDINATOR_Replicas__LivenessCheckPeriod"] = "00:00:01",
            });
        await Silo.WaitUntilHealthyAsync($"http://127.0.0.1:{_httpPort}/health/ready", StartTimeout);

        var services = await _processes.ConnectAsync(
            new CoordinatorClusterOptions { SiloPort = _siloPort, GatewayPort = _gatewayPort },
            new PersistenceOptions { RedisConnectionString = _redis?.ConnectionString });
        Client = services.GetRequiredService<CoordinatorClient>();
    }

    /// <summary>Starts a trainer host process and waits until its replica is registered and its HTTP endpoint says it is ready.</summary>
    public async Task<ChildProcess> StartTrainerAsync(string replicaId, string baseModel, int capacity = 4)
    {
        var http = TrainerHttp[replicaId] = $"http://127.0.0.1:{FreePorts.Next()}";
        var trainer = Start("Coordinator.TrainerHost.dll",
            ["run", "--replica-id", replicaId, "--silo-port", $"{FreePorts.Next()}", "--primary-silo", $"127.0.0.1:{_siloPort}", "--http-port", http[(http.LastIndexOf(':') + 1)..],
             "--capacity", $"{capacity}", "--device", "cpu", "--cpu-threads", "1", "--state-dir", StateDirectory, .. RedisArgs],
            ClusterProcesses.TinyTrainer(baseModel));
        _trainers[replicaId] = trainer;
        await WaitUntilAsync(async () =>
        {
            if (trainer.HasExited)
            {
                throw new InvalidOperationException($"Trainer {replicaId} exited with {trainer.ExitCode}:{Environment.NewLine}{trainer.Output}");
            }

            var snapshot = await Client.GetCapacityAsync(baseModel);
            return snapshot.Replicas.Any(r => r.ReplicaId == replicaId);
        }, StartTimeout, $"trainer {replicaId} to register");
        await trainer.WaitUntilHealthyAsync($"{http}/health/ready", StartTimeout);
        return trainer;
    }

    /// <summary>Each trainer host's HTTP endpoint (health, metrics), by replica id.</summary>
    public Dictionary<string, string> TrainerHttp { get; } = [];

    public ChildProcess Trainer(string replicaId) => _trainers[replicaId];

    /// <summary>A model in a fresh session, on the given base model.</summary>
    public async Task<string> CreateModelAsync(string baseModel, long loraSeed = 1)
    {
        var session = await Client.OpenSessionAsync("test-owner");
        var model = await Client.CreateModelAsync(session.SessionId, "test-owner", baseModel, new LoraConfig(4, 8, ["qkv", "proj", "mlp_fc", "mlp_proj"], loraSeed));
        return model.ModelId;
    }

    /// <summary>
    /// Polls <paramref name="condition"/> until it holds; fails with what was awaited after <paramref name="timeout"/>.
    /// Until the cluster declares a killed host dead, calls routed through it (its share of the grain directory) are
    /// rejected; such rejections count as "not yet".
    /// </summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await Holds(condition))
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what}.");
            }

            await Task.Delay(100);
        }
    }

    private static async Task<bool> Holds(Func<Task<bool>> condition)
    {
        try
        {
            return await condition();
        }
        catch (Orleans.Runtime.OrleansMessageRejectionException)
        {
            // Includes SiloUnavailableException.
            return false;
        }
    }

    public virtual async Task DisposeAsync()
    {
        await _processes.DisposeAsync();

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        Directory.Delete(StateDirectory, recursive: true);
    }

    /// <summary>Where every process of the cluster writes its slow-call file: each writes every call (threshold zero).</summary>
    public string DiagnosticsDirectory => Path.Combine(StateDirectory, "diagnostics");

    private ChildProcess Start(string assembly, string[] args, IReadOnlyDictionary<string, string> environment) => _processes.Start(assembly, args, new Dictionary<string, string>(environment)
    {
        ["COORDINATOR_Diagnostics__SlowCallDirectory"] = DiagnosticsDirectory,
        ["COORDINATOR_Diagnostics__SlowCallThreshold"] = "00:00:00",
    }.Concat(ProcessEnvironment).ToDictionary());
}

/// <summary>The same processes, clustered and persisted through a real redis-server on loopback.</summary>
public sealed class RedisTrainingCluster : TrainingCluster
{
    public RedisTrainingCluster()
        : base(useRedis: true)
    {
    }
}
