using System.Diagnostics;
using System.Globalization;
using Coordinator.Contracts.Client;
using Coordinator.Contracts.Configuration;
using Coordinator.Contracts.Training;
using Coordinator.ServiceDefaults.Hosting;
using Coordinator.ServiceDefaults.Processes;
using Coordinator.TrainerHost.Configuration;
using Coordinator.Training.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.TrainerHost.Demo;

/// <summary>
/// Runs the demo with real parts: the coordinator silo and two trainer hosts are child processes of this one, which
/// is an ordinary cluster client. The model is the default trainer base model; the task is <see cref="AdditionTask"/>.
/// </summary>
internal sealed class DemoRunner(TextWriter stdout, TextWriter stderr, DemoOptions options)
{
    private const string OwnerToken = "demo-owner";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private readonly AdditionTask _task = new(maxOperand: 99);
    private readonly List<ChildProcess> _children = [];

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RunCoreAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await stderr.WriteLineAsync($"Demo failed: {ex.Message}");
            foreach (var child in _children)
            {
                await stderr.WriteLineAsync($"--- output of a child process ---{Environment.NewLine}{Tail(child.Output)}");
            }

            return 1;
        }
        finally
        {
            foreach (var child in _children)
            {
                await child.DisposeAsync();
            }
        }
    }

    private async Task<int> RunCoreAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var directory = AppContext.BaseDirectory;
        var (siloPort, gatewayPort, httpPort) = (FreePorts.Next(), FreePorts.Next(), FreePorts.Next());
        var clusterId = "demo";
        Directory.CreateDirectory(options.WorkDirectory);

        Say($"Starting the coordinator silo (silo port {siloPort}, gateway {gatewayPort}, http {httpPort}) ...");
        var silo = Start(Path.Combine(directory, "Coordinator.Silo.dll"),
            ["run", "--silo-port", Num(siloPort), "--gateway-port", Num(gatewayPort), "--http-port", Num(httpPort), "--cluster-id", clusterId]);
        await silo.WaitUntilHealthyAsync($"http://127.0.0.1:{httpPort}/health/ready", StartTimeout);

        Say("Starting two trainer hosts ...");
        var trainer = Path.Combine(directory, "Coordinator.TrainerHost.dll");
        string[] replicas = ["demo-trainer-1", "demo-trainer-2"];
        var trainers = replicas.Select(replica => Start(trainer,
            ["run", "--replica-id", replica, "--silo-port", Num(FreePorts.Next()), "--primary-silo", $"127.0.0.1:{siloPort}",
             "--cluster-id", clusterId, "--capacity", "4", "--cpu-threads", "1", "--device", "cpu", "--state-dir", options.WorkDirectory])).ToList();

        var cluster = new CoordinatorClusterOptions { ClusterId = clusterId, GatewayPort = gatewayPort, SiloPort = siloPort };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddCoordinatorClusterClient(cluster, new PersistenceOptions());
        using var clientHost = builder.Build();
        await clientHost.StartAsync(cancellationToken);
        var client = clientHost.Services.GetRequiredService<CoordinatorClient>();

        var baseModel = new TrainerOptions().BaseModel;
        await WaitForReplicasAsync(client, baseModel, replicas.Length, trainers, cancellationToken);
        foreach (var replica in await client.ListReplicasAsync(baseModel))
        {
            Say($"  replica {replica.ReplicaId}: {replica.Device.Kind} [{replica.Device.Name}], {replica.LoraCapacity} LoRA slots");
        }

        Say($"Cluster ready after {clock.Elapsed.TotalSeconds:F1} s.");
        var session = await client.OpenSessionAsync(OwnerToken, new Dictionary<string, string> { ["purpose"] = "demo" });
        var lora = new LoraConfig(Rank: 8, Alpha: 16, TargetModules: ["qkv", "proj", "mlp_fc", "mlp_proj"], Seed: 1);
        var model = await client.CreateModelAsync(session.SessionId, OwnerToken, baseModel, lora);
        var modelId = model.ModelId;

        var heldOut = _task.Batch(new Random(12345), 256);
        var problems = _task.Problems(new Random(777), 40);
        var before = await EvaluateAsync(client, modelId, heldOut, problems, "before");
        var placed = await client.GetModelAsync(modelId);
        Say($"Model {modelId} (LoRA rank {lora.Rank} on {string.Join(", ", lora.TargetModules)}) is on replica {placed.ReplicaId}.");

        Say($"Training {options.Steps} steps of {options.BatchSize} problems (Adam, learning rate {options.LearningRate}) ...");
        var random = new Random(1);
        var adam = new AdamParams(LearningRate: options.LearningRate, GradClipNorm: 1.0);
        var window = Stopwatch.StartNew();
        double computeMs = 0;
        for (var step = 1; step <= options.Steps; step++)
        {
            var forward = await client.ForwardBackwardAsync(modelId, _task.Batch(random, options.BatchSize), cancellationToken);
            var optim = await client.OptimStepAsync(modelId, adam, cancellationToken);
            computeMs += forward.Timing.ComputeTime.TotalMilliseconds + optim.Timing.ComputeTime.TotalMilliseconds;
            if (step % 25 == 0 || step == options.Steps)
            {
                var steps = step % 25 == 0 ? 25 : step % 25;
                Say($"  step {step,4}  loss {forward.Loss:F3}  grad norm {optim.GradNorm:F2}  "
                    + $"{window.Elapsed.TotalMilliseconds / steps:F1} ms/step end to end, {computeMs / steps:F1} ms on the trainer");
                window.Restart();
                computeMs = 0;
            }
        }

        var after = await EvaluateAsync(client, modelId, heldOut, problems, "after");
        var saved = await client.SaveStateAsync(modelId, "demo-adapter.state", includeOptimizerState: true, cancellationToken);
        Say($"Held-out loss {before.Loss:F3} -> {after.Loss:F3}; exact answers {before.Correct}/{problems.Count} -> {after.Correct}/{problems.Count}.");
        Say($"Saved the adapter (with optimizer state, step {saved.Step}) to {saved.Path}");
        Say($"Dashboard: http://127.0.0.1:{httpPort}/dashboard  metrics: http://127.0.0.1:{httpPort}/metrics");

        if (options.KeepRunning)
        {
            Say("The cluster keeps running; Ctrl-C stops it.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await client.CloseSessionAsync(session.SessionId, OwnerToken);
        await clientHost.StopAsync(CancellationToken.None);
        var exits = new List<int>();
        foreach (var child in trainers.Append(silo))
        {
            exits.Add(await child.InterruptAsync(TimeSpan.FromSeconds(30)));
        }

        Say($"Stopped the cluster (exit codes {string.Join(", ", exits)}). Demo finished in {clock.Elapsed.TotalSeconds:F1} s.");
        return exits.All(e => e == 0) ? 0 : 1;
    }

    private async Task<(double Loss, int Correct)> EvaluateAsync(
        CoordinatorClient client, string modelId, IReadOnlyList<Datum> heldOut, IReadOnlyList<(int A, int B)> problems, string label)
    {
        var loss = (await client.ForwardAsync(modelId, heldOut)).Loss;
        var correct = 0;
        var shown = new List<string>();
        foreach (var (a, b) in problems)
        {
            var prompt = AdditionTask.Encode(AdditionTask.Prompt(a, b));
            var sample = await client.SampleAsync(modelId, prompt, new SamplingParams(MaxTokens: 4, Temperature: 0, StopTokens: [AdditionTask.EndToken]));
            var answer = sample.Sequences[0].Tokens;
            correct += AdditionTask.IsCorrect(a, b, answer) ? 1 : 0;
            if (shown.Count < 4)
            {
                shown.Add($"{AdditionTask.Prompt(a, b)}{AdditionTask.Decode(answer).TrimEnd('\n')} (want {a + b})");
            }
        }

        Say($"Samples {label} training (greedy): {string.Join("   ", shown)}");
        return (loss, correct);
    }

    private static async Task WaitForReplicasAsync(CoordinatorClient client, string baseModel, int count, IReadOnlyList<ChildProcess> trainers, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (trainers.FirstOrDefault(t => t.HasExited) is { } exited)
            {
                throw new InvalidOperationException($"A trainer host exited with {exited.ExitCode} while starting.");
            }

            var snapshot = await client.GetCapacityAsync(baseModel);
            if (snapshot.Replicas.Count >= count)
            {
                return;
            }

            await Task.Delay(200, cancellationToken);
        }

        throw new TimeoutException($"{count} trainer replicas did not register within {StartTimeout}.");
    }

    private ChildProcess Start(string assembly, string[] args)
    {
        var child = ChildProcess.StartDotnet(assembly, args);
        _children.Add(child);
        return child;
    }

    private void Say(string line) => stdout.WriteLine(line);

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Tail(string output) => string.Join(Environment.NewLine, output.Split(Environment.NewLine).TakeLast(30));
}
