using System.Diagnostics;
using Coordinator.Contracts.Client;
using Coordinator.Contracts.Configuration;
using Coordinator.Contracts.Training;
using Coordinator.ServiceDefaults.Hosting;
using Coordinator.ServiceDefaults.Processes;
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

    public static async Task RunAsync(bool quick)
    {
        var startups = quick ? 2 : 5;
        var blocks = quick ? 4 : 10;
        const int StepsPerBlock = 20;
        var dir = AppContext.BaseDirectory;
        var stateDir = Directory.CreateTempSubdirectory("coordinator-bench-").FullName;

        await using var cluster = await EmbeddedCluster.StartAsync();
        var client = cluster.Client;

        ChildProcess StartTrainer(string replicaId) => ChildProcess.StartDotnet(Path.Combine(dir, "Coordinator.TrainerHost.dll"),
            ["run", "--replica-id", replicaId, "--silo-port", $"{FreePorts.Next()}", "--primary-silo", $"127.0.0.1:{cluster.Options.SiloPort}",
             "--device", "cpu", "--cpu-threads", "1", "--state-dir", stateDir],
            new Dictionary<string, string> { ["COORDINATOR_Trainer__BaseModel"] = BaseModel });

        async Task WaitRegisteredAsync(string replicaId, ChildProcess process)
        {
            while (!(await client.GetCapacityAsync(BaseModel)).Replicas.Any(r => r.ReplicaId == replicaId))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"trainer exited: {process.Output}");
                }

                await Task.Delay(20);
            }
        }

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

        // 2. ms per step, direct versus through the cluster.
        var spec = new TrainerOptions().Spec;
        var lora = new LoraConfig(8, 16, ["qkv", "proj", "mlp_fc", "mlp_proj"], 1);
        var batch = new AdditionTask(99).Batch(new Random(1), 32);
        var adam = new AdamParams(LearningRate: 1e-3);

        await using var stepTrainer = StartTrainer("bench-steps");
        await WaitRegisteredAsync("bench-steps", stepTrainer);
        var session = await client.OpenSessionAsync("bench");
        var modelId = (await client.CreateModelAsync(session.SessionId, "bench", BaseModel, lora)).ModelId;
        using var engine = await TrainingEngine.StartAsync(new TrainingEngineOptions { Spec = spec, Device = "cpu", CpuThreads = 1, StateDirectory = stateDir });
        await engine.CreateAdapterAsync("direct", lora);

        async Task<double> DirectStepAsync()
        {
            var start = Stopwatch.GetTimestamp();
            await engine.ForwardBackwardAsync("direct", batch);
            await engine.OptimStepAsync("direct", adam);
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        var trainerComputeMs = new List<double>();
        async Task<double> ClusterStepAsync()
        {
            var start = Stopwatch.GetTimestamp();
            var forward = await client.ForwardBackwardAsync(modelId, batch);
            var optim = await client.OptimStepAsync(modelId, adam);
            var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            trainerComputeMs.Add(forward.Timing.ComputeTime.TotalMilliseconds + optim.Timing.ComputeTime.TotalMilliseconds);
            return elapsed;
        }

        for (var i = 0; i < 10; i++)
        {
            await DirectStepAsync();
            await ClusterStepAsync();
        }

        trainerComputeMs.Clear();
        var direct = new List<double>();
        var through = new List<double>();
        for (var block = 0; block < blocks; block++)
        {
            for (var i = 0; i < StepsPerBlock; i++)
            {
                direct.Add(await DirectStepAsync());
            }

            for (var i = 0; i < StepsPerBlock; i++)
            {
                through.Add(await ClusterStepAsync());
            }
        }

        static double Median(List<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted[sorted.Length / 2];
        }

        var (d, c, t) = (Median(direct), Median(through), Median(trainerComputeMs));
        Console.WriteLine($"Training step (forward_backward + optim_step), demo model {spec.Layers} layers x {spec.Width} wide, context {spec.ContextLength}, "
            + $"LoRA rank {lora.Rank} on all projections, batch {batch.Count}, CPU, 1 torch thread; {direct.Count} steps each, alternating blocks of {StepsPerBlock}:");
        Console.WriteLine($"  direct (TorchSharp engine in this process)  median {d,7:F2} ms/step");
        Console.WriteLine($"  through the cluster (client -> model grain -> trainer process)  median {c,7:F2} ms/step, of which {t:F2} ms computing on the trainer");
        Console.WriteLine($"  ratio cluster / direct: {c / d:F2}x  (overhead {c - d:F2} ms per step = 2 submissions + 2 waits + 2 grain hops each way)");

        await client.CloseSessionAsync(session.SessionId, "bench");
        await stepTrainer.StopAsync(TimeSpan.FromSeconds(30));
        Directory.Delete(stateDir, recursive: true);
    }
}
