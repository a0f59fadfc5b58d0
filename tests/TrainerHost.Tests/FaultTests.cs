using System.Diagnostics;
using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Models;
using Coordinator.Events.Hosting;
using Coordinator.Events.Spool;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Coordinator.Hosting.Processes;
using Coordinator.TestSupport;
using Coordinator.Training.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using Xunit.Abstractions;

namespace Coordinator.TrainerHost.Tests;

/// <summary>
/// A cluster as users run one, in real processes: redis-server with an append-only file, two coordinator silos, a
/// trainer host, and this process as a client through <see cref="CoordinatorClient"/>.
/// </summary>
public sealed class FaultCluster : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly ClusterProcesses _processes = new();
    private readonly Dictionary<int, (string[] Args, Dictionary<string, string> Environment, int HttpPort)> _siloStarts = [];

    public RedisServer Redis { get; private set; } = null!;

    public IReadOnlyList<ChildProcess> Processes => _processes.All;

    /// <summary>The coordinator silos by silo port.</summary>
    public Dictionary<int, ChildProcess> Silos { get; } = [];

    public CoordinatorClient Client { get; private set; } = null!;

    public IClusterClient Orleans { get; private set; } = null!;

    public string StateDirectory { get; } = Directory.CreateTempSubdirectory("coordinator-fault-tests-").FullName;

    public const string BaseModel = "fault";

    /// <summary>Where every process keeps its event spool, one directory per node.</summary>
    public string EventsDirectory => Path.Combine(StateDirectory, "events");

    /// <summary>
    /// Waits until the event store (Redis) holds every event each running node has spooled, then returns the run's
    /// timeline. (A killed silo's unshipped events wait in its spool until it starts again.)
    /// </summary>
    public async Task<RunTimeline> HeldTimelineAsync()
    {
        var runId = new CoordinatorClusterOptions().ClusterId;
        var store = EventStores.OpenForReading(new EventsOptions(), Redis.Connection, runId);
        var live = new[] { "fault-trainer" }.Concat(Silos.Keys.Select(port => $"silo-127.0.0.1:{port}")).ToList();
        var serializer = Orleans.ServiceProvider.GetRequiredService<Serializer>();
        await TrainingCluster.WaitUntilAsync(async () =>
        {
            foreach (var node in live)
            {
                var spooled = EventSpool.OpenReadOnly(Path.Combine(EventsDirectory, node), serializer).ReadAfter(0);
                if (spooled.Count == 0 || await store.HighWaterAsync(runId, node) < spooled[^1].Stamp.Sequence)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(30), "the live nodes' events to be shipped");
        return await RunTimeline.LoadAsync(store, runId);
    }

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync(appendOnly: true);
        string[] redis = ["--redis", Redis.ConnectionString];
        var environment = new Dictionary<string, string>
        {
            ["COORDINATOR_Replicas__HeartbeatTimeout"] = "00:00:10",
            ["COORDINATOR_Replicas__LivenessCheckPeriod"] = "00:00:01",
            ["COORDINATOR_Events__Directory"] = EventsDirectory,
        };
        foreach (var _ in Enumerable.Range(0, 2))
        {
            var (siloPort, httpPort) = (FreePorts.Next(), FreePorts.Next());
            _siloStarts[siloPort] = (["run", "--silo-port", $"{siloPort}", "--gateway-port", $"{FreePorts.Next()}", "--http-port", $"{httpPort}", .. redis], environment, httpPort);
            await StartSiloAsync(siloPort);
        }

        var services = await _processes.ConnectAsync(new CoordinatorClusterOptions(), new PersistenceOptions { RedisConnectionString = Redis.ConnectionString });
        Client = services.GetRequiredService<CoordinatorClient>();
        Orleans = services.GetRequiredService<IClusterClient>();

        var trainer = Start("Coordinator.TrainerHost.dll",
            ["run", "--replica-id", "fault-trainer", "--silo-port", $"{FreePorts.Next()}", "--capacity", "4", "--device", "cpu", "--cpu-threads", "1",
             "--state-dir", StateDirectory, .. redis],
            new Dictionary<string, string>(ClusterProcesses.TinyTrainer(BaseModel)) { ["COORDINATOR_Events__Directory"] = EventsDirectory });
        await TrainingCluster.WaitUntilAsync(async () =>
        {
            if (trainer.HasExited)
            {
                throw new InvalidOperationException($"The trainer exited with {trainer.ExitCode}:{Environment.NewLine}{trainer.Output}");
            }

            return (await Client.GetCapacityAsync(BaseModel)).Replicas.Count == 1;
        }, StartTimeout, "the trainer to register");
    }

    /// <summary>
    /// SIGKILLs the coordinator silo that holds the model's grain, or with <paramref name="holder"/> false the other one
    /// (to this client, only a gateway); returns when the signal is sent.
    /// </summary>
    public async Task KillSiloAsync(string modelId, bool holder)
    {
        var host = await Orleans.GetGrain<IManagementGrain>(0).GetActivationAddress(Orleans.GetGrain<IModelGrain>(modelId));
        var port = Silos.Keys.Single(p => (p == host!.Endpoint.Port) == holder);
        Silos[port].Kill();
        Silos.Remove(port);
    }

    /// <summary>Starts again, on the same ports and spool, every silo that was killed (as an operator would).</summary>
    public async Task RestartKilledSilosAsync()
    {
        foreach (var port in _siloStarts.Keys.Where(p => !Silos.ContainsKey(p)).ToList())
        {
            await StartSiloAsync(port);
        }
    }

    private async Task StartSiloAsync(int siloPort)
    {
        var (args, environment, httpPort) = _siloStarts[siloPort];
        var silo = Start("Coordinator.Silo.dll", args, environment);
        await silo.WaitUntilHealthyAsync($"http://127.0.0.1:{httpPort}/health/ready", StartTimeout);
        Silos[siloPort] = silo;
    }

    public async Task DisposeAsync()
    {
        await _processes.DisposeAsync();

        await Redis.DisposeAsync();
        Directory.Delete(StateDirectory, recursive: true);
    }

    private ChildProcess Start(string assembly, string[] args, IReadOnlyDictionary<string, string> environment) => _processes.Start(assembly, args, environment);
}

/// <summary>
/// 120 training steps through <see cref="CoordinatorClient"/>, saving every 20, with a fault injected while step 30 is in
/// flight: the run must end exactly where the same run without the fault ends (every loss, every state file, bit for
/// bit), and the caller writes no retry loop.
/// </summary>
public abstract class FaultRunTests(FaultCluster cluster, ITestOutputHelper output)
{
    private const int Steps = 120;
    private const int FaultAt = 30;
    private static readonly AdditionTask Task = new(maxOperand: 20);
    private static readonly AdamParams Adam = new(LearningRate: 1e-2);

    protected FaultCluster Cluster => cluster;

    /// <summary>Injects the fault; called right after step <see cref="FaultAt"/>'s forward_backward was sent.</summary>
    protected abstract Task InjectAsync(string modelId);

    protected async Task RunsToTheSameEndAsWithoutTheFaultAsync(string name)
    {
        var clean = await TrainAsync($"{name}-clean", fault: false);
        var faulted = await TrainAsync($"{name}-fault", fault: true);

        Assert.Equal(clean.Losses, faulted.Losses);
        Assert.Equal(Steps, faulted.Model.StepCount);
        foreach (var step in Enumerable.Range(1, Steps / 20).Select(i => i * 20))
        {
            Assert.Equal(
                File.ReadAllBytes(Path.Combine(cluster.StateDirectory, $"{name}-clean-{step}.state")),
                File.ReadAllBytes(Path.Combine(cluster.StateDirectory, $"{name}-fault-{step}.state")));
        }

        // Every fact of both runs reached the store once: no node lost an event, and every operation's chain, from its
        // submission on a coordinator to a trainer's run to its outcome (recorded on another silo after a failover), is
        // whole. A killed silo ships what its spool kept once it is started again.
        await cluster.RestartKilledSilosAsync();
        var timeline = await cluster.HeldTimelineAsync();
        var findings = RunCheck.Findings(timeline);
        Assert.True(findings.Count == 0, string.Join(Environment.NewLine, findings.Select(f => f.Message)));
        Assert.All(timeline.Nodes, node => Assert.Equal(1, timeline.Events.First(e => e.Stamp.NodeId == node).Stamp.Sequence));
        Assert.True(timeline.Events.Count(e => e.Body is TrainingFinished) >= 2 * 2 * Steps, $"{timeline.Events.Count} events");

        if (Environment.GetEnvironmentVariable("TEST_DUMP_PROCESS_OUTPUT") == "1")
        {
            foreach (var process in cluster.Processes)
            {
                output.WriteLine($"--- process {process.Id}{Environment.NewLine}{process.Output}");
            }
        }

        output.WriteLine($"{name}: from the fault to the next completed step {faulted.Recovery.TotalSeconds:F2} s; a step without a fault {clean.StepTime.TotalMilliseconds:F1} ms");
    }

    private async Task<(List<double> Losses, ModelInfo Model, TimeSpan Recovery, TimeSpan StepTime)> TrainAsync(string name, bool fault)
    {
        var session = await cluster.Client.OpenSessionAsync("fault-owner");
        var model = await cluster.Client.CreateModelAsync(session.SessionId, "fault-owner", FaultCluster.BaseModel, new LoraConfig(4, 8, ["qkv", "proj", "mlp_fc", "mlp_proj"], 7));
        var random = new Random(3);
        var losses = new List<double>();
        var recovery = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        for (var step = 1; step <= Steps; step++)
        {
            var forward = cluster.Client.ForwardBackwardAsync(model.ModelId, Task.Batch(random, 16));
            var faultedAt = 0L;
            if (fault && step == FaultAt)
            {
                faultedAt = Stopwatch.GetTimestamp();
                await InjectAsync(model.ModelId);
            }

            losses.Add((await forward).Loss);
            await cluster.Client.OptimStepAsync(model.ModelId, Adam);
            if (faultedAt != 0)
            {
                recovery = Stopwatch.GetElapsedTime(faultedAt);
            }

            if (step % 20 == 0)
            {
                await cluster.Client.SaveStateAsync(model.ModelId, $"{name}-{step}.state");
            }
        }

        var info = await cluster.Client.GetModelAsync(model.ModelId);
        await cluster.Client.CloseSessionAsync(session.SessionId, "fault-owner");
        return (losses, info, recovery, clock.Elapsed / Steps);
    }
}

/// <summary>The coordinator silo holding the model is SIGKILLed mid-operation.</summary>
public sealed class CoordinatorSiloKillTests(FaultCluster cluster, ITestOutputHelper output) : FaultRunTests(cluster, output), IClassFixture<FaultCluster>
{
    protected override Task InjectAsync(string modelId) => Cluster.KillSiloAsync(modelId, holder: true);

    [Fact]
    public Task A_run_whose_coordinator_silo_is_killed_mid_operation_ends_bit_for_bit_as_without_the_fault() =>
        RunsToTheSameEndAsWithoutTheFaultAsync("silo-kill");
}

/// <summary>The other coordinator silo, one of this client's gateways but not the model's host, is SIGKILLed mid-operation.</summary>
public sealed class GatewaySiloKillTests(FaultCluster cluster, ITestOutputHelper output) : FaultRunTests(cluster, output), IClassFixture<FaultCluster>
{
    protected override Task InjectAsync(string modelId) => Cluster.KillSiloAsync(modelId, holder: false);

    [Fact]
    public Task A_run_whose_gateway_silo_is_killed_mid_operation_ends_bit_for_bit_as_without_the_fault() =>
        RunsToTheSameEndAsWithoutTheFaultAsync("gateway-kill");
}

/// <summary>redis-server is stopped (SIGTERM) mid-operation and back 3 s later.</summary>
public sealed class RedisRestartTests(FaultCluster cluster, ITestOutputHelper output) : FaultRunTests(cluster, output), IClassFixture<FaultCluster>
{
    protected override Task InjectAsync(string modelId) => Cluster.Redis.RestartAsync(TimeSpan.FromSeconds(3));

    [Fact]
    public Task A_run_whose_redis_restarts_mid_operation_ends_bit_for_bit_as_without_the_fault() =>
        RunsToTheSameEndAsWithoutTheFaultAsync("redis-restart");
}
