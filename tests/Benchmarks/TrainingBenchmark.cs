using Coordinator.Client;
using System.Diagnostics;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Training;
using Coordinator.Hosting.Processes;
using Coordinator.TestSupport;
using Coordinator.TrainerHost.Configuration;
using Coordinator.Training.Engine;
using Coordinator.Training.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.Benchmarks;

/// <summary>
/// Trainer start-up, and milliseconds per training step (forward_backward + optim_step) for the demo model called
/// directly through TorchSharp in this process versus through the cluster (client -> model grain -> trainer host
/// process), same model, same batch, one torch thread each, measured in alternating blocks in one run.
/// </summary>
internal static class TrainingBenchmark
{
    private const string BaseModel = "bench-training";

    /// <summary>Runs it on the embedded default, or with <paramref name="redis"/> on a redis-server of its own (state writes go there).</summary>
    // The workload every part trains: the demo model's adapter, one batch, and a step of forward_backward + optim_step.
    private static readonly LoraConfig Lora = new(8, 16, ["qkv", "proj", "mlp_fc", "mlp_proj"], 1);
    private static readonly IReadOnlyList<Datum> Batch = new AdditionTask(99).Batch(new Random(1), 32);
    private static readonly AdamParams Adam = new(LearningRate: 1e-3);
    private static readonly TrainingOperation[] Step = [new ForwardBackwardOperation(Batch), new OptimStepOperation(Adam)];

    public static async Task RunAsync(bool quick, bool redis)
    {
        var startups = quick ? 2 : 5;
        var blocks = quick ? 4 : 10;
        const int StepsPerBlock = 50;
        var stateDir = Directory.CreateTempSubdirectory("coordinator-bench-").FullName;

        await using var redisServer = redis ? await RedisServer.StartAsync(appendOnly: true) : null;
        await using var cluster = await EmbeddedCluster.StartAsync(redis: redisServer?.ConnectionString);
        Console.WriteLine($"Backend: {(redisServer is null ? "the embedded default (memory storage on the silo)" : "redis-server on loopback, append-only file")}");
        var client = cluster.Client;

        ChildProcess StartTrainer(string replicaId) => StartTrainerHost(cluster, replicaId, stateDir, redisServer?.ConnectionString, new Dictionary<string, string>());
        Task WaitRegisteredAsync(string replicaId, ChildProcess process) => WaitRegisteredOnAsync(cluster, replicaId, process);

        // 1. Trainer start-up: process start until its replica is registered with the running coordinator.
        var startupMs = new List<double>();
        for (var i = 0; i < startups; i++)
        {
            var replicaId = $"bench-startup-{i}";
            var clock = Stopwatch.StartNew();
            await using var trainer = StartTrainer(replicaId);
            await WaitRegisteredAsync(replicaId, trainer);
            startupMs.Add(clock.Elapsed.TotalMilliseconds);
            await trainer.StopAsync(TimeSpan.FromSeconds(30));
        }

        startupMs.Sort();
        Console.WriteLine($"Trainer host start-up (process start -> replica registered, demo base model, CPU): median {startupMs[startupMs.Count / 2]:F0} ms, min {startupMs[0]:F0} ms, max {startupMs[^1]:F0} ms over {startups} starts");

        // 2. ms per step: direct, through the cluster waiting for each operation, and through the cluster pipelined.
        var spec = new TrainerOptions().Spec;
        var (lora, batch, adam) = (Lora, Batch, Adam);
        var step = Step;

        await using var stepTrainer = StartTrainer("bench-steps");
        await WaitRegisteredAsync("bench-steps", stepTrainer);
        var session = await client.OpenSessionAsync("bench");
        var waitedModel = (await client.CreateModelAsync(session.SessionId, "bench", BaseModel, lora)).ModelId;
        var pipelinedModel = (await client.CreateModelAsync(session.SessionId, "bench", BaseModel, lora)).ModelId;
        using var engine = await TrainingEngine.StartAsync(new TrainingEngineOptions { Spec = spec, Device = "cpu", CpuThreads = 1, StateDirectory = stateDir });
        await engine.CreateAdapterAsync("direct", lora);

        // Each mode runs a block of steps and reports ms per step over the block (pipelining only pays off across steps).
        async Task<double> DirectBlockAsync(int steps)
        {
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < steps; i++)
            {
                await engine.ForwardBackwardAsync("direct", batch);
                await engine.OptimStepAsync("direct", adam);
            }

            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps;
        }

        var trainerComputeMs = new List<double>();
        async Task<double> WaitedBlockAsync(int steps)
        {
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < steps; i++)
            {
                var forward = await client.ForwardBackwardAsync(waitedModel, batch);
                var optim = await client.OptimStepAsync(waitedModel, adam);
                trainerComputeMs.Add(forward.Timing.ComputeTime.TotalMilliseconds + optim.Timing.ComputeTime.TotalMilliseconds);
            }

            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps;
        }

        // What persisting the operation log costs: the silo's own histogram of state writes, scraped around each
        // pipelined block (outside its timing), so writes are counted for exactly the operations of those blocks.
        using var http = new HttpClient();
        var (writeSeconds, writeCount, pipelinedOperations) = (0.0, 0.0, 0);
        async Task<(double Seconds, double Count)> StateWritesAsync()
        {
            var (seconds, count) = (0.0, 0.0);
            foreach (var line in (await http.GetStringAsync(cluster.MetricsUrl)).Split('\n'))
            {
                var value = line.Split(' ') is [_, var v, ..] ? v : "";
                if (line.StartsWith("coordinator_grain_state_write_duration_seconds_sum{", StringComparison.Ordinal))
                {
                    seconds += double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("coordinator_grain_state_write_duration_seconds_count{", StringComparison.Ordinal))
                {
                    count += double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            return (seconds, count);
        }

        async Task<double> PipelinedBlockAsync(int steps)
        {
            var before = await StateWritesAsync();
            var elapsed = await PipelinedCoreAsync(steps);
            var after = await StateWritesAsync();
            (writeSeconds, writeCount, pipelinedOperations) = (writeSeconds + after.Seconds - before.Seconds, writeCount + after.Count - before.Count, pipelinedOperations + (steps * step.Length));
            return elapsed;
        }

        async Task<double> PipelinedCoreAsync(int steps)
        {
            var start = Stopwatch.GetTimestamp();
            var pipeline = new OperationPipeline(client, pipelinedModel, depth: 2);
            for (var i = 0; i < steps; i++)
            {
                await pipeline.SubmitAsync(step);
            }

            await pipeline.DrainAsync();
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps;
        }

        await DirectBlockAsync(10);
        await WaitedBlockAsync(10);
        await PipelinedBlockAsync(10);
        trainerComputeMs.Clear();
        (writeSeconds, writeCount, pipelinedOperations) = (0, 0, 0);
        var (direct, waited, pipelined) = (new List<double>(), new List<double>(), new List<double>());
        for (var block = 0; block < blocks; block++)
        {
            direct.Add(await DirectBlockAsync(StepsPerBlock));
            waited.Add(await WaitedBlockAsync(StepsPerBlock));
            pipelined.Add(await PipelinedBlockAsync(StepsPerBlock));
        }

        static double Median(List<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted[sorted.Length / 2];
        }

        var (d, w, p, t) = (Median(direct), Median(waited), Median(pipelined), Median(trainerComputeMs));
        Console.WriteLine($"Training step (forward_backward + optim_step), demo model {spec.Layers} layers x {spec.Width} wide, context {spec.ContextLength}, "
            + $"LoRA rank {lora.Rank} on all projections, batch {batch.Count}, CPU, 1 torch thread; {blocks} blocks of {StepsPerBlock} steps per mode, "
            + "modes alternating, median of the blocks' ms/step:");
        Console.WriteLine($"  direct (TorchSharp engine in this process)                       {d,7:F2} ms/step");
        Console.WriteLine($"  through the cluster, waiting for each operation                  {w,7:F2} ms/step  ({w / d:F2}x direct; "
            + $"{t:F2} ms/step of it computing on the trainer, which shares the 2 cores with the silo and this client)");
        Console.WriteLine($"  through the cluster, pipelined (OperationPipeline, depth 2)      {p,7:F2} ms/step  ({p / d:F2}x direct)");
        var writeMsPerOperation = writeSeconds * 1000 / pipelinedOperations;
        Console.WriteLine($"  persisting the operation log (pipelined blocks, the silo's state_write histogram): {writeCount / pipelinedOperations:F2} writes "
            + $"and {writeMsPerOperation:F3} ms of writing per operation, {writeMsPerOperation * step.Length:F3} ms per step = "
            + $"{writeMsPerOperation * step.Length / p * 100:F1}% of the pipelined step (an upper bound: the writes overlap the trainer's compute)");

        // 3. Where one operation's time goes when the caller waits for each: timestamps of the client, the model grain
        //    (accepted, finished) and the trainer (enqueued, started, finished) on this one machine's clock.
        var grains = cluster.Host.Services.GetRequiredService<IClusterClient>();
        var segments = new Dictionary<string, List<double>>();
        var model = grains.GetGrain<IModelGrain>(waitedModel);
        for (var i = 0; i < blocks * StepsPerBlock / 2; i++)
        {
            foreach (var operation in step)
            {
                var sent = DateTimeOffset.UtcNow;
                var result = (await model.SubmitAndAwaitAsync([operation], null, IModelGrain.MaxAwait))[0];
                var received = DateTimeOffset.UtcNow;
                var timing = result.Output!.Timing!;
                void Add(string name, DateTimeOffset from, DateTimeOffset to) =>
                    (segments.TryGetValue($"{operation.Kind}: {name}", out var list) ? list : segments[$"{operation.Kind}: {name}"] = []).Add((to - from).TotalMilliseconds);
                Add("client -> model grain accepts", sent, result.SubmittedAt);
                Add("model grain -> trainer device queue", result.SubmittedAt, timing.EnqueuedAt);
                Add("device queue -> compute starts", timing.EnqueuedAt, timing.StartedAt);
                Add("compute", timing.StartedAt, timing.FinishedAt);
                Add("trainer -> model grain completes", timing.FinishedAt, result.CompletedAt!.Value);
                Add("model grain -> client", result.CompletedAt!.Value, received);
                Add("total", sent, received);
            }
        }

        // The floor: a plain grain call from this client (one round trip, no trainer), back to back and after the idle
        // gap a forward_backward leaves, when the processes' threads have gone to sleep.
        var hot = new List<double>();
        var idle = new List<double>();
        for (var i = 0; i < blocks * StepsPerBlock / 2; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await model.GetAsync();
            hot.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            Thread.Sleep(6);
            start = Stopwatch.GetTimestamp();
            await model.GetAsync();
            idle.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        Console.WriteLine($"Plain grain call round trip (client -> model grain -> client): median {Median(hot):F3} ms back to back, {Median(idle):F3} ms after 6 ms idle");
        Console.WriteLine("Where one operation's time goes, waiting for each (median ms over "
            + $"{blocks * StepsPerBlock / 2} of each kind; one machine's clock, so segments of about 0.05 ms are at its resolution):");
        foreach (var (name, values) in segments)
        {
            Console.WriteLine($"  {name,-50} {Median(values),7:F3} ms");
        }

        foreach (var operation in step)
        {
            var overhead = Median(segments[$"{operation.Kind}: total"]) - Median(segments[$"{operation.Kind}: compute"]);
            Console.WriteLine($"  {operation.Kind}: overhead (total - compute)".PadRight(52) + $" {overhead,7:F3} ms");
        }

        await client.CloseSessionAsync(session.SessionId, "bench");
        await stepTrainer.StopAsync(TimeSpan.FromSeconds(30));
        await cluster.DisposeAsync();
        await EventsOnOffAsync(blocks, StepsPerBlock, stateDir, redisServer?.ConnectionString, step, lora);
        Directory.Delete(stateDir, recursive: true);
    }

    /// <summary>
    /// Only part 4, with <paramref name="rounds"/> rounds of blocks (the training part runs as many as its blocks per mode).
    /// </summary>
    public static async Task EventsOnOffOnlyAsync(int rounds, bool redis)
    {
        var stateDir = Directory.CreateTempSubdirectory("coordinator-bench-").FullName;
        await using var redisServer = redis ? await RedisServer.StartAsync(appendOnly: true) : null;
        await EventsOnOffAsync(rounds, 50, stateDir, redisServer?.ConnectionString, Step, Lora);
        Directory.Delete(stateDir, recursive: true);
    }

    /// <summary>A trainer host of the benchmark's base model joining <paramref name="cluster"/>, with <paramref name="environment"/> added.</summary>
    private static ChildProcess StartTrainerHost(EmbeddedCluster cluster, string replicaId, string stateDir, string? redis, IReadOnlyDictionary<string, string> environment) =>
        ChildProcess.StartDotnet(Path.Combine(AppContext.BaseDirectory, "Coordinator.TrainerHost.dll"),
            ["run", "--replica-id", replicaId, "--silo-port", $"{FreePorts.Next()}", "--primary-silo", $"127.0.0.1:{cluster.Options.SiloPort}",
             "--device", "cpu", "--cpu-threads", "1", "--state-dir", stateDir, .. redis is null ? Array.Empty<string>() : ["--redis", redis]],
            new Dictionary<string, string>(environment) { ["COORDINATOR_Trainer__BaseModel"] = BaseModel });

    /// <summary>Waits until <paramref name="replicaId"/> is registered with <paramref name="cluster"/>; fails if its process exits first.</summary>
    private static async Task WaitRegisteredOnAsync(EmbeddedCluster cluster, string replicaId, ChildProcess process)
    {
        while (!(await cluster.Client.GetCapacityAsync(BaseModel)).Replicas.Any(r => r.ReplicaId == replicaId))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"trainer exited: {process.Output}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// 4. What recording run events costs a training step: clusters side by side, one recording run events (the default)
    /// and two with <c>Events:Enabled=false</c>, each a silo and a trainer host, trained in turn in rounds of pipelined
    /// blocks (never two at once: they would fight over the 2 cores). A round runs in the same minute of this machine,
    /// whose speed drifts by more than the difference from one minute to the next, so the figure is the median of the
    /// rounds' ratios. The second cluster without events is the control: what it differs from the first by is what two
    /// identical clusters differ by here, the smallest cost this run could tell. After each block the clusters rest for a
    /// ship period, so the events of one block are shipped and stored before the next begins (the cost of that is not in
    /// the round's timing).
    /// </summary>
    private static async Task EventsOnOffAsync(int rounds, int stepsPerBlock, string stateDir, string? redis, TrainingOperation[] step, LoraConfig lora)
    {
        // Enough steps for the tiered JIT to have compiled the hot paths of both (the on cluster has more of them): with
        // 100, runs measured +5% to +19%; with 1,000, -3.8% and +0.8%.
        const int WarmUp = 1000;
        string[] names = ["on", "off", "control"];
        var clusters = new Dictionary<string, (EmbeddedCluster Cluster, ChildProcess Trainer, string Model, CpuClock Cpu)>();
        try
        {
            foreach (var name in names)
            {
                var environment = new Dictionary<string, string>
                {
                    ["COORDINATOR_Events__Enabled"] = name == "on" ? "true" : "false",
                    ["COORDINATOR_Events__Directory"] = Path.Combine(stateDir, $"events-{name}"),
                    ["COORDINATOR_Events__StoreDirectory"] = Path.Combine(stateDir, $"events-store-{name}"),
                };
                var cluster = await EmbeddedCluster.StartAsync(environment, redis);
                var replicaId = $"bench-events-{name}";
                var trainer = StartTrainerHost(cluster, replicaId, stateDir, redis, environment);
                await WaitRegisteredOnAsync(cluster, replicaId, trainer);
                var session = await cluster.Client.OpenSessionAsync("bench");
                var model = (await cluster.Client.CreateModelAsync(session.SessionId, "bench", BaseModel, lora)).ModelId;
                clusters[name] = (cluster, trainer, model, new CpuClock(cluster.Silo.Id, trainer.Id));
                await BlockAsync(clusters[name], WarmUp);
            }

            var wall = names.ToDictionary(n => n, _ => new List<double>());
            var cpu = names.ToDictionary(n => n, _ => new List<double>());
            for (var round = 0; round < rounds; round++)
            {
                // Each round starts with another cluster, so none is always trained after the same neighbour.
                foreach (var name in names.Skip(round % names.Length).Concat(names.Take(round % names.Length)))
                {
                    var before = clusters[name].Cpu.Read();
                    wall[name].Add(await BlockAsync(clusters[name], stepsPerBlock));
                    await Task.Delay(TimeSpan.FromSeconds(1.5));
                    cpu[name].Add((clusters[name].Cpu.Read() - before).TotalMilliseconds / stepsPerBlock);
                }
            }

            // What the on cluster recorded per step trained (warm-up included): every node's events of its run, from its API.
            using var web = new HttpClient();
            var api = clusters["on"].Cluster.MetricsUrl.Replace("/metrics", "/timeline/api", StringComparison.Ordinal);
            using var runs = System.Text.Json.JsonDocument.Parse(await web.GetStringAsync($"{api}/runs"));
            using var lanes = System.Text.Json.JsonDocument.Parse(await web.GetStringAsync($"{api}/lanes?run={runs.RootElement[0].GetString()}&buckets=1"));
            var recorded = lanes.RootElement.GetProperty("lanes").EnumerateArray().Sum(l => l.GetProperty("counts")[0].GetInt32());

            static double Median(IEnumerable<double> values) => values.Order().ToArray()[values.Count() / 2];
            // The middle half of the rounds' ratios says how much this machine moved under the figure.
            static string Ratios(List<double> on, List<double> off)
            {
                var ratios = on.Zip(off, (a, b) => (a / b - 1) * 100).Order().ToArray();
                return $"middle half of the rounds {ratios[ratios.Length / 4]:+0.0;-0.0}% to {ratios[ratios.Length * 3 / 4]:+0.0;-0.0}%";
            }

            static double Ratio(List<double> a, List<double> b) => (Median(a.Zip(b, (x, y) => x / y)) - 1) * 100;
            Console.WriteLine($"Run events on vs off (three clusters side by side, one with events and two without, trained in turn: {rounds} rounds of pipelined blocks of {stepsPerBlock} steps, median of the rounds):");
            Console.WriteLine($"  wall: events on {Median(wall["on"]),6:F2} ms/step, off {Median(wall["off"]),6:F2}; on/off {Ratio(wall["on"], wall["off"]):+0.0;-0.0}% (goal <= +1%); {Ratios(wall["on"], wall["off"])}");
            Console.WriteLine($"  control, the two clusters without events: {Ratio(wall["control"], wall["off"]):+0.0;-0.0}%; {Ratios(wall["control"], wall["off"])}");
            Console.WriteLine($"  events recorded: {(double)recorded / (WarmUp + (rounds * stepsPerBlock)):F1} a step (every node)");
            Console.WriteLine($"  CPU of silo and trainer, shipping included: on {Median(cpu["on"]),6:F2} ms/step, off {Median(cpu["off"]),6:F2}; on/off {Ratio(cpu["on"], cpu["off"]):+0.0;-0.0}%; {Ratios(cpu["on"], cpu["off"])}; control {Ratio(cpu["control"], cpu["off"]):+0.0;-0.0}%");
        }
        finally
        {
            foreach (var (cluster, trainer, _, clock) in clusters.Values)
            {
                clock.Dispose();
                await trainer.StopAsync(TimeSpan.FromSeconds(30));
                await trainer.DisposeAsync();
                await cluster.DisposeAsync();
            }
        }

        async Task<double> BlockAsync((EmbeddedCluster Cluster, ChildProcess Trainer, string Model, CpuClock Cpu) on, int steps)
        {
            var start = Stopwatch.GetTimestamp();
            var pipeline = new OperationPipeline(on.Cluster.Client, on.Model, depth: 2);
            for (var i = 0; i < steps; i++)
            {
                await pipeline.SubmitAsync(step);
            }

            await pipeline.DrainAsync();
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps;
        }
    }

    /// <summary>The CPU time (user and system) some processes have used, together.</summary>
    private sealed class CpuClock(params int[] processIds) : IDisposable
    {
        private readonly Process[] _processes = [.. processIds.Select(Process.GetProcessById)];

        public TimeSpan Read()
        {
            var total = TimeSpan.Zero;
            foreach (var process in _processes)
            {
                process.Refresh();
                total += process.TotalProcessorTime;
            }

            return total;
        }

        public void Dispose()
        {
            foreach (var process in _processes)
            {
                process.Dispose();
            }
        }
    }
}
