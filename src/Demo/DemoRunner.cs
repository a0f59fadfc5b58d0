using System.Diagnostics;
using System.Globalization;
using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Training;
using Coordinator.Events.Hosting;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Hosting.Processes;
using Coordinator.Hosting.Cli;
using Coordinator.TrainerHost.Configuration;
using Coordinator.Training.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.Demo;

/// <summary>
/// Runs the demo with real parts: the coordinator silo and two trainer hosts are child processes of this one, which
/// is an ordinary cluster client. It fine-tunes a LoRA adapter on <see cref="AdditionTask"/> with steps submitted
/// ahead (<see cref="OperationPipeline"/>), measures held-out exact answers before and after, and saves the adapter.
/// </summary>
internal sealed class DemoRunner(TextWriter stdout, TextWriter stderr, DemoOptions options)
{
    private const string OwnerToken = "demo-owner";
    private const int Problems = 40;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    /// <summary>How long a child process gets to stop after SIGTERM before it is killed.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);

    private readonly AdditionTask _task = new(maxOperand: 99);
    private readonly List<ChildProcess> _children = [];

    /// <summary>What the run measured; set once it finished training and evaluating.</summary>
    public DemoReport? Report { get; private set; }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RunCoreAsync(cancellationToken);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled, or a call failed because Ctrl-C in a terminal also stopped the children.
            Say("Interrupted; stopping the cluster.");
            var exits = await StopChildrenAsync();
            Say($"Stopped the cluster (exit codes {string.Join(", ", exits)}).");
            return ExitCodes.Interrupted;
        }
        catch (Exception ex)
        {
            await stderr.WriteLineAsync($"Demo failed: {ex.Message}");
            foreach (var child in _children)
            {
                await stderr.WriteLineAsync($"--- output of a child process ---{Environment.NewLine}{Tail(child.Output)}");
            }

            return ExitCodes.Failed;
        }
        finally
        {
            await StopChildrenAsync();
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

        // One run per invocation: every process records its events under this run id, in its own spool here, and ships
        // them to the silo's event store.
        var runId = $"demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
        var eventsDirectory = Path.GetFullPath(Path.Combine(options.WorkDirectory, "events"));
        var storeDirectory = Path.GetFullPath(Path.Combine(options.WorkDirectory, "events-store"));
        // A directory per run: the trainers' node names are the same in every run, and the summary counts this run only.
        var diagnosticsDirectory = Path.GetFullPath(Path.Combine(options.WorkDirectory, "diagnostics", runId));
        var everyNode = new Dictionary<string, string>
        {
            ["COORDINATOR_Events__RunId"] = runId,
            ["COORDINATOR_Events__Directory"] = eventsDirectory,
            ["COORDINATOR_Diagnostics__SlowCallDirectory"] = diagnosticsDirectory,
        };

        var silo = Start(Path.Combine(directory, "Coordinator.Silo.dll"),
            ["run", "--silo-port", Num(siloPort), "--gateway-port", Num(gatewayPort), "--http-port", Num(httpPort), "--cluster-id", clusterId],
            new Dictionary<string, string>(everyNode) { ["COORDINATOR_Events__StoreDirectory"] = storeDirectory });
        Say($"Started the coordinator silo (pid {silo.Id}; silo port {siloPort}, gateway {gatewayPort}, http {httpPort}) ...");
        await silo.WaitUntilHealthyAsync($"http://127.0.0.1:{httpPort}/health/ready", StartTimeout);

        // Both trainers serve the demo's base model: a small byte-level transformer built from a fixed seed.
        var spec = DemoModel.Spec;
        var shape = new Dictionary<string, string>(everyNode)
        {
            ["COORDINATOR_Trainer__BaseModel"] = DemoModel.BaseModel,
            ["COORDINATOR_Trainer__Layers"] = Num(spec.Layers),
            ["COORDINATOR_Trainer__Width"] = Num(spec.Width),
            ["COORDINATOR_Trainer__Heads"] = Num(spec.Heads),
            ["COORDINATOR_Trainer__ContextLength"] = Num(spec.ContextLength),
            ["COORDINATOR_Trainer__Seed"] = spec.Seed.ToString(CultureInfo.InvariantCulture),
        };
        string[] replicas = ["demo-trainer-1", "demo-trainer-2"];
        var trainers = replicas.Select(replica => Start(Path.Combine(directory, "Coordinator.TrainerHost.dll"),
            ["run", "--replica-id", replica, "--silo-port", Num(FreePorts.Next()), "--primary-silo", $"127.0.0.1:{siloPort}",
             "--cluster-id", clusterId, "--capacity", "4", "--cpu-threads", Num(options.CpuThreads), "--device", "cpu", "--state-dir", options.WorkDirectory], shape)).ToList();
        Say($"Started two trainer hosts (pids {string.Join(", ", trainers.Select(t => t.Id))}) ...");

        var cluster = new CoordinatorClusterOptions { ClusterId = clusterId, GatewayPort = gatewayPort, SiloPort = siloPort };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddCoordinatorClusterClient(cluster, new PersistenceOptions());
        using var clientHost = builder.Build();
        await clientHost.StartAsync(cancellationToken);
        var client = clientHost.Services.GetRequiredService<CoordinatorClient>();

        await WaitForReplicasAsync(client, replicas.Length, trainers, cancellationToken);
        foreach (var replica in await client.ListReplicasAsync(DemoModel.BaseModel))
        {
            Say($"  replica {replica.ReplicaId}: {replica.Device.Kind} [{replica.Device.Name}], {replica.LoraCapacity} LoRA slots");
        }

        Say($"Cluster ready after {clock.Elapsed.TotalSeconds:F1} s.");
        var session = await client.OpenSessionAsync(OwnerToken, new Dictionary<string, string> { ["purpose"] = "demo" });
        var model = await client.CreateModelAsync(session.SessionId, OwnerToken, DemoModel.BaseModel, DemoModel.Lora);
        var modelId = model.ModelId;

        // Held-out problems: never drawn for training.
        var problems = _task.Problems(new Random(777), Problems);
        var heldOut = new HashSet<(int, int)>(problems);
        var heldOutBatch = problems.Select(p => AdditionTask.ToDatum(p.A, p.B)).ToList();
        Say($"Base model {spec.Layers} layers x {spec.Width} wide, built from seed {spec.Seed} (random and frozen); "
            + $"LoRA rank {DemoModel.Lora.Rank} on {string.Join(", ", DemoModel.Lora.TargetModules)} (model {modelId}).");
        var before = await EvaluateAsync(client, modelId, heldOutBatch, problems, "before", cancellationToken);

        Say($"Training {options.Steps} steps of {options.BatchSize} problems (Adam, learning rate {options.LearningRate} with warm-up and cosine decay), "
            + "each step submitted while the previous ones run ...");
        var training = Stopwatch.StartNew();
        var random = new Random(1);
        var pipeline = new OperationPipeline(client, modelId, depth: 2);
        var progress = new Progress(this, options.Steps);
        for (var step = 1; step <= options.Steps; step++)
        {
            var batch = _task.Batch(random, options.BatchSize, heldOut);
            var adam = new AdamParams(LearningRate: DemoModel.LearningRate(options.LearningRate, step, options.Steps), GradClipNorm: 1.0);
            if (await pipeline.SubmitAsync([new ForwardBackwardOperation(batch), new OptimStepOperation(adam)], cancellationToken) is { } done)
            {
                progress.Finished(done);
            }
        }

        foreach (var done in await pipeline.DrainAsync(cancellationToken))
        {
            progress.Finished(done);
        }

        var trainingSeconds = training.Elapsed.TotalSeconds;
        var after = await EvaluateAsync(client, modelId, heldOutBatch, problems, "after", cancellationToken);
        var saved = await client.SaveStateAsync(modelId, "demo-adapter.state", includeOptimizerState: true, cancellationToken);
        var report = new DemoReport(before.Loss, after.Loss, before.Correct, after.Correct, Problems, options.Steps, trainingSeconds, new Dictionary<string, int>());
        Report = report;
        Say($"Held-out loss {before.Loss:F3} -> {after.Loss:F3}; exact answers {before.Correct}/{Problems} -> {after.Correct}/{Problems} "
            + $"after {options.Steps} steps in {trainingSeconds:F1} s.");
        Say($"Saved the adapter (with optimizer state, step {saved.Step}) to {saved.Path}");
        Say($"Dashboard: http://127.0.0.1:{httpPort}/dashboard  metrics: http://127.0.0.1:{httpPort}/metrics  timeline: http://127.0.0.1:{httpPort}/timeline?run={runId}");

        if (options.KeepRunning)
        {
            Say("The cluster keeps running; Ctrl-C or SIGTERM stops it.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // The way to end --keep-running: stop as if the demo had finished now.
            }
        }

        await client.CloseSessionAsync(session.SessionId, OwnerToken);
        await clientHost.StopAsync(CancellationToken.None);
        var exits = await StopChildrenAsync();
        Say($"Stopped the cluster (exit codes {string.Join(", ", exits)}). Demo finished in {clock.Elapsed.TotalSeconds:F1} s.");

        // The nodes have stopped and shipped what they recorded: the store holds the whole run.
        var timeline = await RunTimeline.LoadAsync(EventStores.OpenForReading(new EventsOptions { StoreDirectory = storeDirectory }, redis: null, clusterId), runId);
        var recorded = timeline.Events.GroupBy(e => e.Stamp.NodeId).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var findings = RunCheck.Findings(timeline);
        var trace = Path.Combine(Path.GetFullPath(options.WorkDirectory), $"{runId}.trace.json");
        await using (var file = File.Create(trace))
        {
            await ChromeTrace.WriteAsync(timeline, file, CancellationToken.None);
        }

        Report = report with { EventsPerNode = recorded, TimelineFindings = findings.Count };
        Say($"Run events of {runId} in the store: {string.Join(", ", recorded.Select(n => $"{n.Key} {n.Value}"))} ({storeDirectory}); "
            + (findings.Count == 0 ? "no broken chain, no lost event." : $"{findings.Count} finding(s), first: {findings[0].Message}"));
        Say($"Chrome trace (open in https://ui.perfetto.dev): {trace}");
        Say($"Explore it: dotnet run --project src/Silo -- timeline follow --events-dir {storeDirectory} --run {runId} --model {modelId}");
        SaySlowCalls(diagnosticsDirectory);
        return Exit(exits);
    }

    /// <summary>What the nodes' slow-call files hold: calls over a second, the slowest of each minute, thread-pool stalls.</summary>
    private void SaySlowCalls(string directory)
    {
        SlowCallDiagnosis diagnosis;
        try
        {
            diagnosis = SlowCallDiagnosis.Read(directory);
        }
        catch (FileNotFoundException)
        {
            Say($"No slow-call files in {directory}.");
            return;
        }

        var flags = diagnosis.Flags.Count == 0 ? "no red flags" : "red flags " + string.Join(", ", diagnosis.Flags.Select(f => $"{f.Rule} ({f.Severity}) x{f.Count}"));
        Say($"Slow calls: {diagnosis.Lines.Count(l => l.Kind == "call")} written with their breakdown, {diagnosis.Lines.Count(l => l.Kind == "stall")} thread-pool stalls; {flags}. "
            + $"Read them: dotnet run --project src/Silo -- diagnose --file {directory}");
    }

    private async Task<(double Loss, int Correct)> EvaluateAsync(
        CoordinatorClient client, string modelId, IReadOnlyList<Datum> heldOut, IReadOnlyList<(int A, int B)> problems, string label, CancellationToken cancellationToken)
    {
        // Every sample submitted at once: one call, and the trainer runs them back to back.
        var sampling = new SamplingParams(MaxTokens: 4, Temperature: 0, StopTokens: [AdditionTask.EndToken]);
        var operations = problems.Select(p => (TrainingOperation)new SampleOperation(AdditionTask.Encode(AdditionTask.Prompt(p.A, p.B)), sampling))
            .Prepend(new ForwardOperation(heldOut)).ToList();
        var results = await client.WaitAsync(await client.SubmitAsync(modelId, operations), null, cancellationToken);
        var outputs = results.Select(r => r.GetOutputOrThrow()).ToList();
        var correct = 0;
        var shown = new List<string>();
        foreach (var ((a, b), output) in problems.Zip(outputs.Skip(1)))
        {
            var answer = output.Sample!.Sequences[0].Tokens;
            correct += AdditionTask.IsCorrect(a, b, answer) ? 1 : 0;
            if (shown.Count < 5)
            {
                shown.Add($"{AdditionTask.Prompt(a, b)}{AdditionTask.Decode(answer).TrimEnd('\n')}{(AdditionTask.IsCorrect(a, b, answer) ? "" : $" (want {a + b})")}");
            }
        }

        Say($"Samples {label} training (greedy): {string.Join("   ", shown)}");
        return (outputs[0].Forward!.Loss, correct);
    }

    private static async Task WaitForReplicasAsync(CoordinatorClient client, int count, IReadOnlyList<ChildProcess> trainers, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (trainers.FirstOrDefault(t => t.HasExited) is { } exited)
            {
                throw new InvalidOperationException($"A trainer host exited with {exited.ExitCode} while starting.");
            }

            var snapshot = await client.GetCapacityAsync(DemoModel.BaseModel);
            if (snapshot.Replicas.Count >= count)
            {
                return;
            }

            await Task.Delay(200, cancellationToken);
        }

        throw new TimeoutException($"{count} trainer replicas did not register within {StartTimeout}.");
    }

    private ChildProcess Start(string assembly, string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        var child = ChildProcess.StartDotnet(assembly, args, environment);
        _children.Add(child);
        return child;
    }

    /// <summary>Stops the children still running, trainers first: SIGTERM, then a kill after <see cref="StopGrace"/>.</summary>
    private async Task<List<int>> StopChildrenAsync()
    {
        var exits = new List<int>();
        List<ChildProcess> order = _children.Count == 0 ? [] : [.. _children.Skip(1), _children[0]];
        foreach (var child in order)
        {
            exits.Add(child.HasExited ? child.ExitCode : await child.StopAsync(StopGrace));
        }

        return exits;
    }

    private static int Exit(List<int> exits) => exits.All(e => e == 0) ? ExitCodes.Ok : ExitCodes.Failed;

    private void Say(string line) => stdout.WriteLine(line);

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Tail(string output) => string.Join(Environment.NewLine, output.Split(Environment.NewLine).TakeLast(30));

    /// <summary>Prints a progress line every so many finished steps: loss, grad norm, and where the time went.</summary>
    private sealed class Progress(DemoRunner demo, int steps)
    {
        private readonly int _every = steps >= 2000 ? 500 : Math.Max(1, steps / 5);
        private readonly Stopwatch _window = Stopwatch.StartNew();
        private int _finished;
        private int _inWindow;
        private double _computeMs;
        private double _loss;

        public void Finished(IReadOnlyList<OperationOutput> step)
        {
            var (forward, optim) = (step[0].Forward!, step[1].OptimStep!);
            _finished++;
            _inWindow++;
            _loss += forward.Loss;
            _computeMs += forward.Timing.ComputeTime.TotalMilliseconds + optim.Timing.ComputeTime.TotalMilliseconds;
            if (_finished % _every == 0 || _finished == steps)
            {
                demo.Say($"  step {_finished,5}  loss {_loss / _inWindow:F3}  grad norm {optim.GradNorm:F2}  "
                    + $"{_window.Elapsed.TotalMilliseconds / _inWindow:F2} ms/step end to end, {_computeMs / _inWindow:F2} ms computing on the trainer");
                (_inWindow, _computeMs, _loss) = (0, 0, 0);
                _window.Restart();
            }
        }
    }
}

/// <summary>What a demo run measured on its held-out problems.</summary>
internal sealed record DemoReport(
    double LossBefore, double LossAfter, int CorrectBefore, int CorrectAfter, int Problems, int Steps, double TrainingSeconds,
    IReadOnlyDictionary<string, int> EventsPerNode, int TimelineFindings = 0);
