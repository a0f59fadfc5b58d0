using Coordinator.Client;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Hosting.Processes;
using Coordinator.TestSupport;
using Coordinator.Training.Engine;
using Coordinator.Training.Tasks;

namespace Coordinator.TrainerHost.Tests;

/// <summary>Training driven through the cluster: client -> model grain -> trainer host process.</summary>
public sealed class ClusterTrainingTests(TrainingCluster cluster) : IClassFixture<TrainingCluster>
{
    private static readonly AdditionTask Task = new(maxOperand: 20);
    private static readonly AdamParams Adam = new(LearningRate: 1e-2);

    private async Task<List<double>> TrainAsync(string modelId, Random random, int steps)
    {
        var losses = new List<double>();
        for (var i = 0; i < steps; i++)
        {
            losses.Add((await cluster.Client.ForwardBackwardAsync(modelId, Task.Batch(random, 16))).Loss);
            await cluster.Client.OptimStepAsync(modelId, Adam);
        }

        return losses;
    }

    [Fact]
    public async Task Loss_falls_by_half_in_60_steps_and_matches_the_engine_run_directly()
    {
        await cluster.StartTrainerAsync("loss-1", "loss");
        var modelId = await cluster.CreateModelAsync("loss");
        var heldOut = Task.Batch(new Random(99), 64);

        var before = (await cluster.Client.ForwardAsync(modelId, heldOut)).Loss;
        var losses = await TrainAsync(modelId, new Random(1), 60);
        var after = (await cluster.Client.ForwardAsync(modelId, heldOut)).Loss;

        Assert.True(after < before * 0.5, $"held-out loss went from {before:F3} to {after:F3}; expected below half");

        // The same model, seed and batches in this process, without the cluster: the numbers must be identical.
        using var engine = await TrainingEngine.StartAsync(new TrainingEngineOptions
        {
            Spec = new BaseModelSpec(2, 32, 2, 16, 256, 1234), Device = "cpu", CpuThreads = 1, StateDirectory = cluster.StateDirectory,
        });
        await engine.CreateAdapterAsync("direct", new LoraConfig(4, 8, ["qkv", "proj", "mlp_fc", "mlp_proj"], 1));
        var random = new Random(1);
        var direct = new List<double>();
        for (var i = 0; i < 60; i++)
        {
            direct.Add((await engine.ForwardBackwardAsync("direct", Task.Batch(random, 16))).Loss);
            await engine.OptimStepAsync("direct", Adam);
        }

        Assert.Equal(direct, losses);
    }

    [Fact]
    public async Task A_trainer_host_serves_its_readiness_and_the_metrics_of_the_operations_it_ran_which_promtool_accepts()
    {
        await cluster.StartTrainerAsync("metrics-1", "metrics");
        var modelId = await cluster.CreateModelAsync("metrics");
        await TrainAsync(modelId, new Random(1), 3);
        using var web = new HttpClient();

        var ready = await web.GetStringAsync($"{cluster.TrainerHttp["metrics-1"]}/health/ready");
        var scrape = await web.GetStringAsync($"{cluster.TrainerHttp["metrics-1"]}/metrics");
        var metrics = scrape.Split('\n');
        var (exit, complaints) = await Promtool.CheckMetricsAsync(Promtool.Ours(scrape));

        Assert.Contains("replica metrics-1 registered", ready, StringComparison.Ordinal);
        var executed = metrics.Single(l => l.StartsWith("coordinator_handler_requests_total{", StringComparison.Ordinal)
            && l.Contains("grain=\"TrainerGrain\"", StringComparison.Ordinal) && l.Contains("method=\"ExecuteAsync\"", StringComparison.Ordinal));
        // "name{labels} value [timestamp]": 3 steps are 6 operations.
        Assert.True(double.Parse(executed[(executed.IndexOf("} ", StringComparison.Ordinal) + 2)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) >= 6, executed);
        Assert.Contains(metrics, l => l.StartsWith("coordinator_handler_request_duration_seconds_bucket{", StringComparison.Ordinal) && l.Contains("method=\"LoadAdapterAsync\"", StringComparison.Ordinal));

        // Where the operations' time went on the trainer, by kind and phase; the device queue; the steps applied.
        foreach (var phase in (string[])["transit", "sequence", "queue", "compute"])
        {
            Assert.Contains(metrics, l => l.StartsWith("coordinator_trainer_operation_seconds_count{", StringComparison.Ordinal)
                && l.Contains("kind=\"optim_step\"", StringComparison.Ordinal) && l.Contains($"phase=\"{phase}\"", StringComparison.Ordinal));
        }

        Assert.Contains(metrics, l => l.StartsWith("coordinator_trainer_device_queue_depth", StringComparison.Ordinal));
        var steps = metrics.Single(l => l.StartsWith("coordinator_trainer_optim_steps_total", StringComparison.Ordinal));
        Assert.Equal("3", steps.Split(' ')[1]);

        // The model's last loss and gradient norm, as its training reported them.
        foreach (var gauge in (string[])["coordinator_trainer_loss", "coordinator_trainer_grad_norm"])
        {
            var line = metrics.Single(l => l.StartsWith(gauge + "{", StringComparison.Ordinal) && l.Contains($"model=\"{modelId}\"", StringComparison.Ordinal));
            var value = double.Parse(line[(line.IndexOf("} ", StringComparison.Ordinal) + 2)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(double.IsFinite(value) && value > 0, line);
        }

        // Unloaded, the model leaves the trainer's gauges (scraped again until the exporter's cached answer, 300 ms, is renewed).
        await cluster.Client.UnloadModelAsync(modelId);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        bool Listed(string scraped) => scraped.Split('\n').Any(l => l.StartsWith("coordinator_trainer_loss{", StringComparison.Ordinal) && l.Contains(modelId, StringComparison.Ordinal));
        while (Listed(await web.GetStringAsync($"{cluster.TrainerHttp["metrics-1"]}/metrics")))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{modelId} is still in coordinator_trainer_loss 30 s after its unloading");
            await System.Threading.Tasks.Task.Delay(100);
        }

        Assert.True(exit == 0 && complaints.Length == 0, $"promtool check metrics exited {exit}: {complaints}");
    }

    [Fact]
    public async Task Every_call_of_a_training_run_is_in_its_nodes_slow_call_files_split_by_part_and_both_binaries_diagnose_them()
    {
        await cluster.StartTrainerAsync("explained-1", "explained");
        var modelId = await cluster.CreateModelAsync("explained");
        await TrainAsync(modelId, new Random(1), 3);

        // Lines are written in the background: read until the trainer's operations are there.
        SlowCallDiagnosis read = null!;
        await TrainingCluster.WaitUntilAsync(() =>
        {
            read = Directory.Exists(cluster.DiagnosticsDirectory) && Directory.EnumerateFiles(cluster.DiagnosticsDirectory, "*.jsonl", SearchOption.AllDirectories).Any()
                ? SlowCallDiagnosis.Read(cluster.DiagnosticsDirectory) : null!;
            return System.Threading.Tasks.Task.FromResult(read?.Lines.Count(l => l is { Node: "explained-1", Method: "ExecuteAsync" }) >= 6);
        }, TimeSpan.FromSeconds(30), "the trainer's slow-call lines");

        // On the trainer, an operation's handler waits on the device: trainer time, with its device queue and compute.
        var executed = read.Lines.Where(l => l is { Node: "explained-1", Grain: "TrainerGrain", Method: "ExecuteAsync" }).ToList();
        Assert.All(executed, l => Assert.True(l.Transit is >= 0 && l.Trainer > 0 && l.TrainerCompute > 0 && l.Trainer <= l.Duration + 0.01, $"{l}"));

        // On the coordinator silo, a client's forward_backward waited for the trainer, which is what its time says.
        var waited = read.Lines.Where(l => l is { Grain: "ModelGrain", Method: "SubmitAndAwaitAsync" }).ToList();
        Assert.NotEmpty(waited);
        Assert.All(waited, l => Assert.True(l.Transit is >= 0 && l.Trainer > 0 && l.TrainerCompute > 0, $"{l}"));
        Assert.Empty(read.Skipped);

        foreach (var binary in (string[])["Coordinator.Silo.dll", "Coordinator.TrainerHost.dll"])
        {
            await using var diagnose = ChildProcess.StartDotnet(Path.Combine(AppContext.BaseDirectory, binary), ["diagnose", "--file", cluster.DiagnosticsDirectory], new Dictionary<string, string>());
            var exit = await diagnose.WaitForExitAsync(TimeSpan.FromSeconds(60));
            Assert.True(exit is 0 or 1, $"{binary} diagnose exited {exit}: {diagnose.Output}");
            // The nodes go on writing (heartbeats) while the binaries read: at least what was read here.
            var calls = int.Parse(diagnose.Output.Split(" calls and ")[0].Split('\n')[^1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(calls >= read.Lines.Count(l => l.Kind == "call"), diagnose.Output);
            Assert.Contains("Slowest calls:", diagnose.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_real_Prometheus_scrapes_the_silo_and_a_trainer_host_and_sees_both_sides_of_the_training_calls()
    {
        await cluster.StartTrainerAsync("scraped-1", "scraped");
        var modelId = await cluster.CreateModelAsync("scraped");
        await TrainAsync(modelId, new Random(1), 2);
        await using var prometheus = await PrometheusServer.StartAsync(new Dictionary<string, string>
        {
            ["silo"] = new Uri(cluster.SiloHttp).Authority,
            ["trainer"] = new Uri(cluster.TrainerHttp["scraped-1"]).Authority,
        });

        IReadOnlyList<(Dictionary<string, string> Labels, double Value)> up = [];
        await TrainingCluster.WaitUntilAsync(async () => (up = await prometheus.QueryAsync("up")).Count == 2 && up.All(s => s.Value == 1),
            TimeSpan.FromSeconds(30), "Prometheus to scrape both targets");
        var model = await prometheus.QueryAsync("sum by (job) (coordinator_handler_requests_total{grain=\"ModelGrain\"})");
        var trainer = await prometheus.QueryAsync("sum by (job, kind) (coordinator_trainer_operation_seconds_count{phase=\"compute\"})");

        Assert.Equal(["silo"], model.Select(s => s.Labels["job"]));
        Assert.Equal([("trainer", "forward_backward", 2.0), ("trainer", "optim_step", 2.0)],
            trainer.Select(s => (s.Labels["job"], s.Labels["kind"], s.Value)).Order());
    }

    [Fact]
    public async Task Every_series_the_Grafana_dashboard_queries_is_exported_and_every_query_is_valid_PromQL()
    {
        await cluster.StartTrainerAsync("dashboard-1", "dashboard");
        var modelId = await cluster.CreateModelAsync("dashboard");
        await TrainAsync(modelId, new Random(1), 2);
        await Assert.ThrowsAsync<CoordinatorException>(() => cluster.Client.GetModelAsync("mdl-never-created"));
        using var web = new HttpClient();
        var exported = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in (string[])[cluster.SiloHttp, cluster.TrainerHttp["dashboard-1"]])
        {
            foreach (var line in (await web.GetStringAsync($"{target}/metrics")).Split('\n').Where(l => l.Length > 0 && l[0] != '#'))
            {
                exported.Add(line[..line.IndexOfAny(['{', ' '])]);
            }
        }

        using var dashboard = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "grafana", "coordinator.json")));
        var queries = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!)).ToList();
        var queried = queries.SelectMany(q => System.Text.RegularExpressions.Regex.Matches(q, "coordinator_[a-z0-9_]+").Select(m => m.Value)).Distinct().ToList();
        await using var prometheus = await PrometheusServer.StartAsync(new Dictionary<string, string> { ["silo"] = new Uri(cluster.SiloHttp).Authority });

        // A counter's series appears with its first count: the unknown model above made an error; no call here is ever cancelled
        // (HandlerMetricsTests covers cancellations). GPU series exist only where nvidia-smi does (ResourceSamplerTests covers its readings).
        Assert.True(queried.Count >= 10, string.Join(", ", queried));
        Assert.All(queried.Where(q => q != "coordinator_handler_cancellations_total" && !q.StartsWith("coordinator_node_gpu_", StringComparison.Ordinal)),
            series => Assert.Contains(series, exported));
        foreach (var query in queries)
        {
            // Grafana's variables as Grafana would fill them; Prometheus refuses a query that does not parse.
            await prometheus.QueryAsync(query.Replace("$__rate_interval", "1m", StringComparison.Ordinal).Replace("$job", ".*", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Save_state_then_load_state_on_another_replica_continues_bit_for_bit()
    {
        await cluster.StartTrainerAsync("ckpt-a", "ckpt");
        await cluster.StartTrainerAsync("ckpt-b", "ckpt");
        var first = await cluster.CreateModelAsync("ckpt");
        var random = new Random(21);
        await TrainAsync(first, random, 3);
        var atThree = await cluster.Client.SaveStateAsync(first, "ckpt-at-3.state");
        var uninterrupted = await TrainAsync(first, random, 3);
        await cluster.Client.SaveStateAsync(first, "ckpt-uninterrupted.state");

        var second = await cluster.CreateModelAsync("ckpt");
        var loaded = await cluster.Client.LoadStateAsync(second, atThree.Path);
        var replay = new Random(21);
        _ = Task.Batch(replay, 16 * 3);
        var resumed = await TrainAsync(second, replay, 3);
        await cluster.Client.SaveStateAsync(second, "ckpt-resumed.state");

        var (a, b) = (await cluster.Client.GetModelAsync(first), await cluster.Client.GetModelAsync(second));
        Assert.NotEqual(a.ReplicaId, b.ReplicaId);
        Assert.Equal(3, loaded.Step);
        Assert.Equal(6, b.StepCount);
        Assert.Equal(uninterrupted, resumed);
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(cluster.StateDirectory, "ckpt-uninterrupted.state")),
            File.ReadAllBytes(Path.Combine(cluster.StateDirectory, "ckpt-resumed.state")));
    }

    [Fact]
    public async Task Pipelined_training_gives_the_same_losses_and_state_file_bit_for_bit_as_waiting_for_each_operation()
    {
        await cluster.StartTrainerAsync("pipe-1", "pipe");
        var waited = await cluster.CreateModelAsync("pipe");
        var pipelined = await cluster.CreateModelAsync("pipe");
        const int Steps = 30;

        var expected = await TrainAsync(waited, new Random(5), Steps);

        var pipeline = new OperationPipeline(cluster.Client, pipelined, depth: 3);
        var random = new Random(5);
        var finished = new List<IReadOnlyList<OperationOutput>>();
        for (var i = 0; i < Steps; i++)
        {
            if (await pipeline.SubmitAsync([new ForwardBackwardOperation(Task.Batch(random, 16)), new OptimStepOperation(Adam)]) is { } done)
            {
                finished.Add(done);
            }
        }

        finished.AddRange(await pipeline.DrainAsync());
        Assert.Equal(expected, finished.Select(step => step[0].Forward!.Loss));
        Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), finished.Select(step => step[1].OptimStep!.Step));

        await cluster.Client.SaveStateAsync(waited, "pipe-waited.state");
        await cluster.Client.SaveStateAsync(pipelined, "pipe-pipelined.state");
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(cluster.StateDirectory, "pipe-waited.state")),
            File.ReadAllBytes(Path.Combine(cluster.StateDirectory, "pipe-pipelined.state")));
    }

    [Fact]
    public async Task Operations_from_concurrent_clients_run_one_at_a_time_in_submission_order()
    {
        await cluster.StartTrainerAsync("order-1", "order");
        var modelId = await cluster.CreateModelAsync("order");
        var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clients = Enumerable.Range(0, 8).Select(async c =>
        {
            await barrier.Task;
            var random = new Random(c);
            var tickets = new List<OperationTicket>();
            for (var i = 0; i < 6; i++)
            {
                TrainingOperation operation = i % 2 == 0 ? new ForwardBackwardOperation(Task.Batch(random, 4)) : new OptimStepOperation(Adam);
                tickets.Add(await cluster.Client.SubmitAsync(modelId, operation));
            }

            return tickets;
        }).ToList();
        barrier.SetResult();
        var submitted = (await System.Threading.Tasks.Task.WhenAll(clients)).SelectMany(t => t).ToList();
        var results = (await System.Threading.Tasks.Task.WhenAll(submitted.Select(t => cluster.Client.WaitAsync(t, TimeSpan.FromMinutes(2)))))
            .OrderBy(r => r.Ticket.Sequence).ToList();

        Assert.Equal(Enumerable.Range(1, 48).Select(i => (long)i), results.Select(r => r.Ticket.Sequence));
        Assert.All(results, r => Assert.True(r.IsCompleted));

        // One at a time on the device: each operation started after the previous one finished.
        var ran = results.Where(r => r.Output?.Timing is not null).Select(r => r.Output!.Timing!).ToList();
        for (var i = 1; i < ran.Count; i++)
        {
            Assert.True(ran[i - 1].FinishedAt <= ran[i].StartedAt, $"operation {i} started before operation {i - 1} finished");
        }

        // In submission order: replaying the sequence predicts which optim steps had gradients and their step numbers.
        var pendingGradients = false;
        long expectedStep = 0;
        foreach (var result in results)
        {
            if (result.Ticket.Kind == "forward_backward")
            {
                Assert.Equal(OperationStatus.Succeeded, result.Status);
                pendingGradients = true;
            }
            else if (pendingGradients)
            {
                Assert.Equal(OperationStatus.Succeeded, result.Status);
                Assert.Equal(++expectedStep, result.Output!.OptimStep!.Step);
                pendingGradients = false;
            }
            else
            {
                Assert.Equal((OperationStatus.Failed, CoordinatorErrorCode.InvalidState), (result.Status, result.ErrorCode));
            }
        }

        Assert.Equal(expectedStep, (await cluster.Client.GetModelAsync(modelId)).StepCount);
    }

    [Fact]
    public async Task Bad_input_is_refused_with_a_clear_error_and_leaves_the_model_unchanged()
    {
        await cluster.StartTrainerAsync("bad-1", "bad");
        var modelId = await cluster.CreateModelAsync("bad");
        await TrainAsync(modelId, new Random(5), 1);
        var before = await cluster.Client.SaveStateAsync(modelId, "bad-before.state");
        var good = AdditionTask.ToDatum(1, 2);

        async Task<CoordinatorException> Refused(TrainingOperation operation) =>
            await Assert.ThrowsAsync<CoordinatorException>(() => cluster.Client.RunAsync(modelId, operation));

        var outOfVocabulary = await Refused(new ForwardBackwardOperation([good with { InputTokens = [.. good.InputTokens[..^1], 300] }]));
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, outOfVocabulary.Code);
        Assert.Contains("InputTokens", outOfVocabulary.Message, StringComparison.Ordinal);
        Assert.Contains("300", outOfVocabulary.Message, StringComparison.Ordinal);

        var tooLong = await Refused(new ForwardOperation([new Datum(new int[20], new int[20], Enumerable.Repeat(1f, 20).ToArray())]));
        Assert.Contains("context length", tooLong.Message, StringComparison.Ordinal);

        var empty = await Refused(new ForwardBackwardOperation([]));
        Assert.Contains("at least one example", empty.Message, StringComparison.Ordinal);

        var mismatched = await Refused(new ForwardBackwardOperation([good with { LossWeights = [1f] }]));
        Assert.Contains("mismatched lengths", mismatched.Message, StringComparison.Ordinal);

        var negative = await Refused(new OptimStepOperation(new AdamParams(LearningRate: -1e-3)));
        Assert.Contains("LearningRate", negative.Message, StringComparison.Ordinal);

        var missing = await Refused(new LoadStateOperation("no-such-file.state"));
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, missing.Code);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var corruptPath = Path.Combine(cluster.StateDirectory, "bad-corrupt.state");
        var bytes = File.ReadAllBytes(before.Path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(corruptPath, bytes);
        var corrupt = await Refused(new LoadStateOperation(corruptPath));
        Assert.Contains("checksum", corrupt.Message, StringComparison.Ordinal);

        var after = await cluster.Client.SaveStateAsync(modelId, "bad-after.state");
        Assert.Equal(File.ReadAllBytes(before.Path), File.ReadAllBytes(after.Path));
        var model = await cluster.Client.GetModelAsync(modelId);
        Assert.Equal((ModelStatus.Loaded, 1L), (model.Status, model.StepCount));
    }
}
