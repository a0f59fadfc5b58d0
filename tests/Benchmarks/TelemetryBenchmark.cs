using System.Diagnostics;
using System.Net;
using Coordinator.Client.Hosting;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Hosting;
using Coordinator.Hosting.Processes;
using Coordinator.ServiceDefaults.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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

/// <summary>
/// What the Coordinator's call telemetry costs: an echo grain called from a client over loopback, on a silo that is bare
/// Orleans, one with the Coordinator's filters and every signal off, one with every signal on (meters aggregated by
/// OpenTelemetry as the service defaults set them up, the slow-call file, the canary, every call stamped, the thread CPU
/// clock read where a method's slices are long, which an echo's are not), the same without stamps, or with stamps and
/// without the CPU clock (what those two cost: the stamp is the first entry of the calls' request context, the clock a
/// system call), and one writing every call to the slow-call file. Silos run in this process, one at a time, in interleaved rounds; medians are reported. Also the
/// canary's CPU per tick and the slow-call file's bytes per call.
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
        EveryCall,
    }

    public static async Task RunAsync(bool quick)
    {
        var calls = quick ? 5_000 : 40_000;
        var rounds = quick ? 1 : 5;
        var directory = Directory.CreateTempSubdirectory("coordinator-telemetry-bench-").FullName;
        Console.WriteLine($"Call telemetry: an echo grain over loopback, {calls} calls per measurement, {rounds} interleaved round(s) after one not counted, medians (CPU: this process's, client and silo, per call):");
        var results = new Dictionary<(Setup, int), List<LatencyRecorder.Result>>();
        long everyCallBytes = 0, everyCallLines = 0;
        // Round 0 is not counted: it runs each setup's code for the first time (JIT, tiering), which would weigh on the
        // setups measured first.
        for (var round = 0; round <= rounds; round++)
        {
            foreach (var setup in Enum.GetValues<Setup>())
            {
                var slowCalls = Path.Combine(directory, $"{setup}-{round}");
                await using var silo = await EchoSilo.StartAsync(setup, slowCalls);
                var echo = silo.Client.GetGrain<IEchoGrain>(0);
                await LatencyRecorder.MeasureAsync("warm-up", 2_000, 32, i => echo.EchoAsync(i));
                foreach (var concurrency in new[] { 1, 32 })
                {
                    var result = await LatencyRecorder.MeasureAsync($"{setup}", concurrency == 1 ? calls / 4 : calls, concurrency, i => echo.EchoAsync(i));
                    if (round == 0)
                    {
                        continue;
                    }

                    (results.TryGetValue((setup, concurrency), out var list) ? list : results[(setup, concurrency)] = []).Add(result);
                }

                await silo.DisposeAsync();
                if (setup == Setup.EveryCall && round > 0)
                {
                    foreach (var file in Directory.EnumerateFiles(slowCalls, "*.jsonl", SearchOption.AllDirectories))
                    {
                        everyCallBytes += new FileInfo(file).Length;
                        everyCallLines += File.ReadLines(file).Count(l => l.Contains("\"kind\":\"call\"", StringComparison.Ordinal));
                    }
                }
            }
        }

        foreach (var concurrency in new[] { 1, 32 })
        {
            var bare = Median(results[(Setup.Bare, concurrency)], r => r.CallsPerSecond);
            foreach (var setup in Enum.GetValues<Setup>())
            {
                var runs = results[(setup, concurrency)];
                var throughput = Median(runs, r => r.CallsPerSecond);
                Console.WriteLine($"  {Describe(setup),-44} c={concurrency,-3} {throughput,9:F0} calls/s ({throughput / bare:P1} of bare)  p50 {Median(runs, r => r.P50Ms),7:F3} ms  p99 {Median(runs, r => r.P99Ms),7:F3} ms  {Median(runs, r => r.CpuUsPerCall),5:F1} us CPU/call");
            }

            var on = Median(results[(Setup.On, concurrency)], r => r.CallsPerSecond);
            var unstamped = Median(results[(Setup.OnLean, concurrency)], r => r.CallsPerSecond);
            var off = Median(results[(Setup.Off, concurrency)], r => r.CallsPerSecond);
            double OffCpu(Setup setup) => Median(results[(setup, concurrency)], r => r.CpuUsPerCall) - Median(results[(Setup.Off, concurrency)], r => r.CpuUsPerCall);
            Console.WriteLine($"  telemetry on vs off at c={concurrency}: {on / off:F3}x throughput, {unstamped / off:F3}x without stamps and CPU clock; CPU per call {OffCpu(Setup.On):+0.0;-0.0} us, {OffCpu(Setup.OnLean):+0.0;-0.0} us without them (goal >= 0.98)");
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
        var tick = CanaryCpuPerTick();
        Console.WriteLine($"  scheduler canary: {tick:F1} us of CPU per tick, {tick * 10 / 10_000:F4}% of one core at the default 100 ms");
        Directory.Delete(directory, recursive: true);
    }

    private static string Describe(Setup setup) => setup switch
    {
        Setup.Bare => "bare Orleans (no Coordinator code)",
        Setup.Off => "Coordinator filters, telemetry off",
        Setup.OnLean => "telemetry on, no stamps, no thread CPU",
        Setup.OnStamped => "telemetry on, stamps, no thread CPU",
        Setup.On => "Coordinator filters, telemetry on",
        _ => "telemetry on, every call to the slow-call file",
    };

    private static double Median(List<LatencyRecorder.Result> runs, Func<LatencyRecorder.Result, double> value)
    {
        var sorted = runs.Select(value).Order().ToList();
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

    /// <summary>A silo in this process hosting the echo grain as <paramref name="setup"/> says, and a client of it over loopback.</summary>
    private sealed class EchoSilo : IAsyncDisposable
    {
        private readonly IHost _silo;
        private readonly IHost _client;
        private bool _disposed;

        private EchoSilo(IHost silo, IHost client) => (_silo, _client) = (silo, client);

        public IClusterClient Client => _client.Services.GetRequiredService<IClusterClient>();

        public static async Task<EchoSilo> StartAsync(Setup setup, string slowCalls)
        {
            var (siloPort, gatewayPort) = (FreePorts.Next(), FreePorts.Next());
            var on = setup is Setup.On or Setup.OnLean or Setup.OnStamped or Setup.EveryCall;
            var stamped = setup is Setup.On or Setup.OnStamped or Setup.EveryCall;
            var cpuClock = setup is Setup.On or Setup.EveryCall;
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
                if (setup != Setup.Bare)
                {
                    silo.AddCoordinatorErrors();
                    silo.AddCoordinatorTracing();
                    silo.AddCoordinatorDiagnostics(configuration);
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
                if (setup != Setup.Bare)
                {
                    client.AddActivityPropagation();
                }

                if (stamped)
                {
                    client.AddOutgoingGrainCallFilter<CallStampFilter>();
                }
            });
            var client = clientBuilder.Build();
            await client.StartAsync();
            return new EchoSilo(silo, client);
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
