using System.Diagnostics;
using Coordinator.Benchmarks;
using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Coordinator.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Coordinator.Hosting.Processes;

// Coordinator benchmark harness. Everything runs on this machine against the real silo binary on loopback, and
// stops by itself: a bounded number of calls per measurement.
//   dotnet run -c Release --project tests/Benchmarks [-- --quick] [--training-only] [--redis] [--events-only] [--telemetry-only] [--telemetry-profile SETUP [WORKLOAD]] [--events-on-off]
// --redis runs the training part on a redis-server of its own (installed by .ci/run) instead of the embedded default.
// --events-only measures run events alone: emit cost, store throughput and size, timeline queries.
// --telemetry-only measures what the call telemetry costs: bare Orleans vs telemetry off vs on, the canary, the file.
// --telemetry-profile SETUP [WORKLOAD] calls the grains of one of those setups for 60 s (workload 1, 32 callers on one
// echo grain, unless named by its number), for a profiler such as perf to attach.
// --events-on-off measures only a training step with run events on vs off, in 30 rounds of blocks beside a control cluster without events (the training part runs 10).
var quick = args.Contains("--quick");
var redis = args.Contains("--redis");

// The processes it starts write their spools, event stores and slow-call files where they run: in a directory of the
// benchmark's own, not in the source tree.
var workDirectory = Directory.CreateTempSubdirectory("coordinator-benchmarks-").FullName;
Environment.CurrentDirectory = workDirectory;
AppDomain.CurrentDomain.ProcessExit += (_, _) =>
{
    Environment.CurrentDirectory = Path.GetTempPath();
    Directory.Delete(workDirectory, recursive: true);
};
if (args.Contains("--events-only"))
{
    await EventsBenchmark.RunAsync(quick);
    return;
}

if (Array.IndexOf(args, "--telemetry-setup") is var served and >= 0)
{
    // A child process of --telemetry-only: one setup's silo and client.
    await TelemetryBenchmark.ServeAsync(args[served + 1], args[served + 2], int.Parse(args[served + 3], System.Globalization.CultureInfo.InvariantCulture));
    return;
}

if (Array.IndexOf(args, "--telemetry-profile") is var profile and >= 0)
{
    var workload = args.ElementAtOrDefault(profile + 2) is { } number && !number.StartsWith("--", StringComparison.Ordinal) ? int.Parse(number, System.Globalization.CultureInfo.InvariantCulture) : 1;
    await TelemetryBenchmark.ProfileAsync(args.ElementAtOrDefault(profile + 1) ?? "", workload, seconds: 60);
    return;
}

if (args.Contains("--telemetry-only"))
{
    TelemetryBenchmark.Run(quick);
    return;
}

if (args.Contains("--events-on-off"))
{
    await TrainingBenchmark.EventsOnOffOnlyAsync(quick ? 4 : 30, redis);
    return;
}

if (args.Contains("--training-only"))
{
    await TrainingBenchmark.RunAsync(quick, redis);
    return;
}

var calls = quick ? 2_000 : 20_000;
var startups = quick ? 2 : 5;
var siloDll = Path.Combine(AppContext.BaseDirectory, "Coordinator.Silo.dll");

Console.WriteLine($"Coordinator benchmarks ({Environment.ProcessorCount} cores, {(quick ? "quick" : "full")} run)");
Console.WriteLine();

// 1. Silo start-up on the embedded default: process start until /health/ready answers 200.
var startupMs = new List<double>();
for (var i = 0; i < startups; i++)
{
    var (http, silo, gateway) = (FreePorts.Next(), FreePorts.Next(), FreePorts.Next());
    var clock = Stopwatch.StartNew();
    await using var process = ChildProcess.StartDotnet(siloDll, ["--http-port", $"{http}", "--silo-port", $"{silo}", "--gateway-port", $"{gateway}"]);
    await process.WaitUntilHealthyAsync($"http://127.0.0.1:{http}/health/ready", TimeSpan.FromSeconds(60));
    startupMs.Add(clock.Elapsed.TotalMilliseconds);
    await process.StopAsync(TimeSpan.FromSeconds(30));
}

startupMs.Sort();
Console.WriteLine($"Silo start-up (embedded default, process start -> /health/ready): median {startupMs[startupMs.Count / 2]:F0} ms, min {startupMs[0]:F0} ms, max {startupMs[^1]:F0} ms over {startups} starts");
Console.WriteLine();

// 2. Grain calls from one client process to one embedded silo process.
var cluster = await EmbeddedCluster.StartAsync(new Dictionary<string, string> { ["COORDINATOR_Sessions__MaxModelsPerToken"] = "1000" });
var client = cluster.Client;

const string Token = "bench-token";
const string BaseModel = "bench-base";
var sessions = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => client.OpenSessionAsync(Token)));
var replicas = Enumerable.Range(0, 8).Select(i => $"bench-replica-{i}").ToArray();
foreach (var replica in replicas)
{
    await client.RegisterReplicaAsync(replica, new RegisterReplicaRequest(BaseModel, 64, new DeviceDescription("cpu", "bench", 0)));
}

// Placement needs models: one per call, spread over the sessions, each unloaded again after being placed.
var models = await Task.WhenAll(Enumerable.Range(0, 512).Select(i =>
    client.CreateModelAsync(sessions[i % sessions.Length].SessionId, Token, BaseModel, new LoraConfig(8, 16, ["qkv"], i))));

async Task PlaceAndUnload(int i)
{
    var id = models[i % models.Length].ModelId;
    await client.PlaceModelAsync(id);
    await client.UnloadModelAsync(id);
}

// Warm-up, not reported.
await LatencyRecorder.MeasureAsync("warm-up", 2_000, 16, i => client.HeartbeatSessionAsync(sessions[i % sessions.Length].SessionId, Token));
await LatencyRecorder.MeasureAsync("warm-up", 512, 16, PlaceAndUnload);

var results = new List<LatencyRecorder.Result>();
foreach (var concurrency in new[] { 1, 32 })
{
    results.Add(await LatencyRecorder.MeasureAsync("session heartbeat", calls, concurrency, i => client.HeartbeatSessionAsync(sessions[i % sessions.Length].SessionId, Token)));
    results.Add(await LatencyRecorder.MeasureAsync("replica heartbeat", calls, concurrency, i => client.ReplicaHeartbeatAsync(replicas[i % replicas.Length])));
    results.Add(await LatencyRecorder.MeasureAsync("placement (place + unload)", calls / 4, Math.Min(concurrency, models.Length), PlaceAndUnload));
}

Console.WriteLine("Grain calls from one client process to one embedded silo process (memory storage, loopback):");
foreach (var result in results)
{
    Console.WriteLine("  " + result);
}

await cluster.DisposeAsync();

Console.WriteLine();
TelemetryBenchmark.Run(quick);
Console.WriteLine();
await TrainingBenchmark.RunAsync(quick, redis);
