using System.Diagnostics;

namespace Coordinator.Benchmarks;

/// <summary>Runs an operation a fixed number of times at a fixed concurrency and summarises its latency.</summary>
internal static class LatencyRecorder
{
    /// <summary>What a measurement found; <see cref="CpuUsPerCall"/> is this process's CPU time (every thread) over the calls.</summary>
    public sealed record Result(string Name, int Calls, int Concurrency, double CallsPerSecond, double P50Ms, double P99Ms, double MaxMs, double CpuUsPerCall)
    {
        public override string ToString() =>
            $"{Name,-34} {Calls,7} calls  c={Concurrency,-3} {CallsPerSecond,9:F0} calls/s  p50 {P50Ms,7:F3} ms  p99 {P99Ms,7:F3} ms  max {MaxMs,7:F2} ms";
    }

    public static async Task<Result> MeasureAsync(string name, int calls, int concurrency, Func<int, Task> operation)
    {
        var latencies = new double[calls];
        var next = -1;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < calls)
            {
                var start = Stopwatch.GetTimestamp();
                await operation(i);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }));
        total.Stop();
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Array.Sort(latencies);
        return new Result(name, calls, concurrency, calls / total.Elapsed.TotalSeconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies[^1], cpu.TotalMicroseconds / calls);
    }

    public static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
