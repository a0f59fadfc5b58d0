using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Coordinator.Client.Hosting;
using Coordinator.Events.Clock;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Hosting;
using Coordinator.Hosting.Processes;
using Coordinator.ServiceDefaults.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Dashboard;

namespace Coordinator.Benchmarks;

/// <summary>A grain with no Coordinator code: the benchmark's echo.</summary>
public interface IEchoGrain : IGrainWithIntegerKey
{
    Task<int> EchoAsync(int value);
}

/// <inheritdoc cref="IEchoGrain"/>
public sealed class EchoGrain : Grain, IEchoGrain
{
    public Task<int> EchoAsync(int value) => Task.FromResult(value);
}

/// <summary>A grain that writes its state on every call, as the Coordinator's grains do: the benchmark's other workload.</summary>
public interface ITallyGrain : IGrainWithIntegerKey
{
    Task<long> AddAsync(int value);
}

/// <summary>The state of <see cref="ITallyGrain"/>.</summary>
[GenerateSerializer]
public sealed class Tally
{
    [Id(0)]
    public long Total { get; set; }
}

/// <inheritdoc cref="ITallyGrain"/>
public sealed class TallyGrain([PersistentState("tally")] IPersistentState<Tally> tally) : Grain, ITallyGrain
{
    public async Task<long> AddAsync(int value)
    {
        tally.State.Total += value;
        await tally.WriteStateAsync();
        return tally.State.Total;
    }
}

/// <summary>
/// What the Coordinator's call telemetry costs: an echo grain called from a client over loopback, on a silo that is bare
/// Orleans, one with the Coordinator's filters and every signal off, one with every signal on (meters aggregated by
/// OpenTelemetry as the service defaults set them up, the slow-call file, the canary, every call stamped, the thread CPU
/// clock read where a method's slices are long, which an echo's are not), the same without stamps, or with stamps and
/// without the CPU clock (what those two cost: the stamp is an entry of the calls' request context, the clock a system
/// call), every signal on beside the Orleans dashboard (as the coordinator silo runs by default), every signal on with
/// the run events' clock carried on each call (as between nodes recording events), one writing every call to the
/// slow-call file, and bare Orleans whose client stamps its calls (what a
/// request-context entry costs Orleans itself). Each setup runs in a process of its own, all side by side, measured in
/// turn round after round; medians, and on/off ratios taken within each round. Also the canary's CPU per tick and the
/// slow-call file's bytes per call.
/// </summary>
internal static class TelemetryBenchmark
{
    private enum Setup
    {
        Bare,
        Off,
        OnLean,
        OnStamped,
        On,
        OnDashboard,
        OnClocked,
        EveryCall,
        BareStamped,
    }

    /// <summary>
    /// How the grains are called: <paramref name="Concurrency"/> callers on <paramref name="Grains"/> activations of the
    /// echo, or of the tally when <paramref name="Writes"/> (a state write, to Orleans' memory storage, per call). On one
    /// activation turns run one after another, so what a filter does inside the turn bounds the throughput; on many,
    /// the CPU does.
    /// </summary>
    private readonly record struct Workload(int Concurrency, int Grains, bool Writes)
    {
        public override string ToString() => $"c={Concurrency} on {Grains} {(Writes ? "writer" : "echo")}{(Grains == 1 ? "" : "s")}";

        public Func<int, Task> Caller(IClusterClient client)
        {
            if (Writes)
            {
                var tallies = Enumerable.Range(0, Grains).Select(i => client.GetGrain<ITallyGrain>(i)).ToArray();
                return i => tallies[i % tallies.Length].AddAsync(1);
            }

            var echoes = Enumerable.Range(0, Grains).Select(i => client.GetGrain<IEchoGrain>(i)).ToArray();
            return i => echoes[i % echoes.Length].EchoAsync(i);
        }
    }

    private static readonly Workload[] Workloads = [new(1, 1, false), new(32, 1, false), new(32, 32, false), new(32, 32, true)];

    public static void Run(bool quick)
    {
        var calls = quick ? 5_000 : 20_000;
        var rounds = quick ? 3 : 15;
        var setups = Enum.GetValues<Setup>();
        var directory = Directory.CreateTempSubdirectory("coordinator-telemetry-bench-").FullName;
        Console.WriteLine($"Call telemetry: grains on a silo over loopback, each setup's silo and client in a process of its own, all running side by side and warmed up, then {rounds} round(s) of {calls} calls at c=32 ({calls / 4} at c=1) for each of {string.Join(", ", Workloads)}, setups in turn; medians (CPU: the setup's process per call):");

        // A process per setup: meter and activity listeners are process-wide, so one setup's OpenTelemetry would feed
        // and trace another's calls in a shared process. All live through the whole run and are warmed up first: a
        // silo measured right after its start still runs code being tiered up, which made short measurements of a
        // fresh silo per setup swing by a third.
        var processes = new Dictionary<Setup, SetupProcess>();
        try
        {
            foreach (var setup in setups)
            {
                processes[setup] = SetupProcess.Start(setup, Path.Combine(directory, $"{setup}"), quick ? 20_000 : 200_000);
            }

            foreach (var process in processes.Values)
            {
                process.WaitReady();
            }

            var results = new Dictionary<(Setup, Workload), List<LatencyRecorder.Result>>();
            for (var round = 0; round < rounds; round++)
            {
                // Each round starts with a different setup, so none is always measured after the same neighbour.
                foreach (var setup in setups.Skip(round % setups.Length).Concat(setups.Take(round % setups.Length)))
                {
                    foreach (var workload in Workloads)
                    {
                        var result = processes[setup].Measure(workload.Concurrency == 1 ? calls / 4 : calls, workload);
                        (results.TryGetValue((setup, workload), out var list) ? list : results[(setup, workload)] = []).Add(result);
                    }
                }
            }

            Report(results);
        }
        finally
        {
            foreach (var process in processes.Values)
            {
                process.Dispose();
            }
        }

        long everyCallBytes = 0, everyCallLines = 0;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(directory, $"{Setup.EveryCall}"), "*.jsonl", SearchOption.AllDirectories))
        {
            everyCallBytes += new FileInfo(file).Length;
            everyCallLines += File.ReadLines(file).Count(l => l.Contains("\"kind\":\"call\"", StringComparison.Ordinal));
        }

        if (everyCallLines > 0)
        {
            Console.WriteLine($"  slow-call file: {everyCallBytes / (double)everyCallLines:F0} bytes per recorded call ({everyCallLines} calls)");
        }

        var reads = 1_000_000;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < reads; i++)
        {
            ThreadCpu.Now();
        }

        Console.WriteLine($"  thread CPU clock: {clock.Elapsed.TotalNanoseconds / reads:F0} ns per read (two or more per call)");
        if (ThreadCpu.RunQueueSupported)
        {
            clock.Restart();
            for (var i = 0; i < reads; i++)
            {
                ThreadCpu.RunQueueNow();
            }

            Console.WriteLine($"  thread's wait for a core: {clock.Elapsed.TotalNanoseconds / reads:F0} ns per read (as many as the CPU clock's)");
        }

        var tick = CanaryCpuPerTick();
        Console.WriteLine($"  scheduler canary: {tick:F1} us of CPU per tick, {tick * 10 / 10_000:F4}% of one core at the default 100 ms");
        Directory.Delete(directory, recursive: true);
    }

    /// <summary>
    /// The child side of <see cref="Run"/>: hosts <paramref name="name"/>'s silo and client, warms them up with
    /// <paramref name="warmUp"/> calls, says <c>ready</c>, then for each line <c>CALLS CONCURRENCY GRAINS WRITES</c> on standard input
    /// measures and answers with <c>result JSON</c>, until standard input ends.
    /// </summary>
    public static async Task ServeAsync(string name, string directory, int warmUp)
    {
        var setup = Enum.Parse<Setup>(name);
        await using var silo = await SetupSilo.StartAsync(setup, directory);
        foreach (var workload in Workloads)
        {
            await LatencyRecorder.MeasureAsync("warm-up", warmUp / Workloads.Length, workload.Concurrency, workload.Caller(silo.Client));
        }

        Console.WriteLine("ready");
        while (Console.ReadLine() is { } line)
        {
            var request = line.Split(' ').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray();
            var workload = new Workload(request[1], request[2], request[3] != 0);
            var result = await LatencyRecorder.MeasureAsync($"{setup}", request[0], workload.Concurrency, workload.Caller(silo.Client));
            Console.WriteLine($"result {JsonSerializer.Serialize(result)}");
        }
    }

    /// <summary>
    /// Calls the grains of one setup as the <paramref name="workload"/>-th of <see cref="Workloads"/> says for
    /// <paramref name="seconds"/>, for a profiler attached to this process (its id is printed) to see where that
    /// setup's time goes.
    /// </summary>
    public static async Task ProfileAsync(string name, int workload, int seconds)
    {
        if (!Enum.TryParse<Setup>(name, ignoreCase: true, out var setup))
        {
            throw new ArgumentException($"--telemetry-profile: '{name}' is not a setup; one of {string.Join(", ", Enum.GetNames<Setup>())}.");
        }

        if (workload < 0 || workload >= Workloads.Length)
        {
            throw new ArgumentException($"--telemetry-profile: workload {workload} is not one of 0 to {Workloads.Length - 1}: {string.Join(", ", Workloads)}.");
        }

        var directory = Directory.CreateTempSubdirectory("coordinator-telemetry-profile-").FullName;
        await using var silo = await SetupSilo.StartAsync(setup, directory);
        var (load, call) = (Workloads[workload], Workloads[workload].Caller(silo.Client));
        await LatencyRecorder.MeasureAsync("warm-up", 20_000, load.Concurrency, call);
        Console.WriteLine($"Profiling {setup}, {load}, in process {Environment.ProcessId} for {seconds} s.");
        var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until)
        {
            var result = await LatencyRecorder.MeasureAsync($"{setup}", 20_000, load.Concurrency, call);
            Console.WriteLine($"  {result}  {result.CpuUsPerCall:F1} us CPU/call");
        }

        await silo.DisposeAsync();
        Directory.Delete(directory, recursive: true);
    }

    private static void Report(Dictionary<(Setup, Workload), List<LatencyRecorder.Result>> results)
    {
        foreach (var workload in Workloads)
        {
            var bare = Median(results[(Setup.Bare, workload)], r => r.CallsPerSecond);
            foreach (var setup in Enum.GetValues<Setup>())
            {
                var runs = results[(setup, workload)];
                var throughput = Median(runs, r => r.CallsPerSecond);
                Console.WriteLine($"  {Describe(setup),-46} {workload,-16} {throughput,9:F0} calls/s ({throughput / bare:P1} of bare)  p50 {Median(runs, r => r.P50Ms),7:F3} ms  p99 {Median(runs, r => r.P99Ms),7:F3} ms  {Median(runs, r => r.CpuUsPerCall),5:F1} us CPU/call");
            }

            // Ratios are taken round by round (the setups measured within seconds of each other), then their median.
            double Ratio(Setup setup) => Median(results[(setup, workload)].Zip(results[(Setup.Off, workload)], (a, b) => a.CallsPerSecond / b.CallsPerSecond).ToList());
            double OffCpu(Setup setup) => Median(results[(setup, workload)], r => r.CpuUsPerCall) - Median(results[(Setup.Off, workload)], r => r.CpuUsPerCall);
            Console.WriteLine($"  telemetry on vs off, {workload}: {Ratio(Setup.On):F3}x throughput, {Ratio(Setup.OnStamped):F3}x without the CPU clock, {Ratio(Setup.OnLean):F3}x without stamps either; CPU per call {OffCpu(Setup.On):+0.0;-0.0} us, {OffCpu(Setup.OnLean):+0.0;-0.0} us without them (goal >= 0.98)");
            Console.WriteLine($"  the run events' clock, {workload}: {Ratio(Setup.OnClocked):F3}x of telemetry off with the clock carried beside telemetry on, CPU per call {OffCpu(Setup.OnClocked) - OffCpu(Setup.On):+0.0;-0.0} us more than telemetry on");
            Console.WriteLine($"  the Orleans dashboard, {workload}: {Ratio(Setup.OnDashboard):F3}x of telemetry off with the dashboard beside telemetry on, CPU per call {OffCpu(Setup.OnDashboard) - OffCpu(Setup.On):+0.0;-0.0} us more than telemetry on");
        }
    }

    private static string Describe(Setup setup) => setup switch
    {
        Setup.Bare => "bare Orleans (no Coordinator code)",
        Setup.Off => "Coordinator filters, telemetry off",
        Setup.OnLean => "telemetry on, no stamps, no thread CPU",
        Setup.OnStamped => "telemetry on, stamps, no thread CPU",
        Setup.On => "Coordinator filters, telemetry on",
        Setup.OnDashboard => "telemetry on and the Orleans dashboard",
        Setup.OnClocked => "telemetry on and the run events' clock",
        Setup.EveryCall => "telemetry on, every call to the slow-call file",
        Setup.BareStamped => "bare Orleans, calls stamped by the client",
        _ => throw new ArgumentOutOfRangeException(nameof(setup), setup, null),
    };

    private static double Median(List<LatencyRecorder.Result> runs, Func<LatencyRecorder.Result, double> value) => Median(runs.Select(value).ToList());

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>The canary's CPU per tick: a process with it ticking every millisecond against the same idle process.</summary>
    private static double CanaryCpuPerTick()
    {
        static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;
        var window = TimeSpan.FromSeconds(2);
        var idleStart = Cpu();
        Thread.Sleep(window);
        var idle = Cpu() - idleStart;
        using var canary = new SchedulerCanary(TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(1), slowCalls: null);
        var start = Cpu();
        var clock = Stopwatch.StartNew();
        canary.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        Thread.Sleep(window);
        canary.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        var busy = Cpu() - start;

        // Each tick waits a period after the last item ran: about one tick per millisecond and a bit.
        var ticks = clock.Elapsed.TotalMilliseconds / 1.1;
        return Math.Max(0, (busy - idle).TotalMicroseconds) / ticks;
    }

    /// <summary>A process of this benchmark serving one setup (<see cref="ServeAsync"/>).</summary>
    private sealed class SetupProcess : IDisposable
    {
        private readonly Process _process;
        private readonly Setup _setup;

        private SetupProcess(Process process, Setup setup) => (_process, _setup) = (process, setup);

        public static SetupProcess Start(Setup setup, string directory, int warmUp)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in new[] { typeof(TelemetryBenchmark).Assembly.Location, "--telemetry-setup", $"{setup}", directory, $"{warmUp}" })
            {
                start.ArgumentList.Add(arg);
            }

            return new SetupProcess(Process.Start(start) ?? throw new InvalidOperationException($"Could not start the {setup} process."), setup);
        }

        public void WaitReady() => Expect("ready");

        public LatencyRecorder.Result Measure(int calls, Workload workload)
        {
            _process.StandardInput.WriteLine($"{calls} {workload.Concurrency} {workload.Grains} {(workload.Writes ? 1 : 0)}");
            return JsonSerializer.Deserialize<LatencyRecorder.Result>(Expect("result ")["result ".Length..])!;
        }

        public void Dispose()
        {
            try
            {
                // The end of its input tells the process to stop.
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
                // It has exited already (the failure that ends a run early).
            }

            if (!_process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                _process.Kill();
            }

            _process.Dispose();
        }

        private string Expect(string prefix)
        {
            while (_process.StandardOutput.ReadLine() is { } line)
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }

            throw new InvalidOperationException($"The {_setup} process exited ({_process.ExitCode}) before it said '{prefix.Trim()}'.");
        }
    }

    /// <summary>A silo in this process hosting the echo and tally grains as <paramref name="setup"/> says, and a client of it over loopback.</summary>
    private sealed class SetupSilo : IAsyncDisposable
    {
        private readonly IHost _silo;
        private readonly IHost _client;
        private bool _disposed;

        private SetupSilo(IHost silo, IHost client) => (_silo, _client) = (silo, client);

        public IClusterClient Client => _client.Services.GetRequiredService<IClusterClient>();

        public static async Task<SetupSilo> StartAsync(Setup setup, string slowCalls)
        {
            var (siloPort, gatewayPort) = (FreePorts.Next(), FreePorts.Next());
            var on = setup is Setup.On or Setup.OnDashboard or Setup.OnClocked or Setup.OnLean or Setup.OnStamped or Setup.EveryCall;
            var stamped = setup is Setup.BareStamped or Setup.On or Setup.OnDashboard or Setup.OnClocked or Setup.OnStamped or Setup.EveryCall;
            var cpuClock = setup is Setup.On or Setup.OnDashboard or Setup.OnClocked or Setup.EveryCall;
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Diagnostics:SlowCallDirectory"] = on ? slowCalls : "",
                ["Diagnostics:SchedulerCanaryPeriod"] = on ? "00:00:00.1" : "00:00:00",
                ["Diagnostics:SlowCallThreshold"] = setup == Setup.EveryCall ? "00:00:00" : "00:00:01",
                ["Diagnostics:StampCalls"] = stamped ? "true" : "false",
                ["Diagnostics:MeasureThreadCpu"] = cpuClock ? "true" : "false",
            }).Build();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            if (on)
            {
                // The meters as every Coordinator process has them: OpenTelemetry aggregating the Coordinator, Orleans
                // and runtime meters for the Prometheus exporter.
                builder.AddCoordinatorServiceDefaults(new TelemetryOptions { PrometheusEnabled = true }, "benchmark", "echo");
            }

            builder.UseOrleans(silo =>
            {
                silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: "bench", clusterId: $"bench-{setup}");
                silo.AddMemoryGrainStorage("Default");
                if (setup is not Setup.Bare and not Setup.BareStamped)
                {
                    silo.AddCoordinatorErrors();
                    silo.AddCoordinatorTracing();
                    silo.AddCoordinatorDiagnostics(configuration);
                }

                if (setup == Setup.OnClocked)
                {
                    // As on every node recording run events: the caller's hybrid clock on each call, merged by the receiver.
                    silo.Services.AddSingleton(new HybridClock(TimeProvider.System)).AddCoordinatorClockPropagation();
                }

                if (setup == Setup.OnDashboard)
                {
                    // As the coordinator silo runs by default: the dashboard profiles every grain call and reads the
                    // Orleans meter with a provider of its own.
                    silo.AddDashboard();
                }
            });
            var silo = builder.Build();
            await silo.StartAsync();

            var clientBuilder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            clientBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
            clientBuilder.UseOrleansClient(client =>
            {
                client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gatewayPort));
                client.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ServiceId, o.ClusterId) = ("bench", $"bench-{setup}"));
                if (setup is not Setup.Bare and not Setup.BareStamped)
                {
                    client.AddActivityPropagation();
                }

                if (stamped)
                {
                    client.AddOutgoingGrainCallFilter<CallStampFilter>();
                }

                if (setup == Setup.OnClocked)
                {
                    client.Services.AddSingleton(new HybridClock(TimeProvider.System)).AddCoordinatorClockPropagation();
                }
            });
            var client = clientBuilder.Build();
            await client.StartAsync();
            return new SetupSilo(silo, client);
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            await _client.StopAsync();
            _client.Dispose();
            await _silo.StopAsync();
            _silo.Dispose();
        }
    }
}
