using System.Diagnostics;
using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Events.Resources;

/// <summary>
/// Records a <see cref="ResourceSnapshot"/> of this node every period: the process's CPU share and working set, the
/// machine's network counters and the disk space free under <paramref name="directory"/> (<see cref="ResourceReadings"/>,
/// which the node's metrics read too), and its GPUs' memory in use (summed) and utilisation (their mean), null without GPUs.
/// </summary>
public sealed class ResourceSampler(IRunEvents events, TimeProvider time, TimeSpan period, string directory, Func<IReadOnlyList<GpuReading>>? gpus = null)
    : BackgroundService
{
    private readonly Func<IReadOnlyList<GpuReading>> _gpus = gpus ?? ResourceReadings.Gpus;

    // Made at construction, so periods count from then (the host starts ExecuteAsync on a thread of its own, later).
    private readonly PeriodicTimer _timer = new(period, time);
    private TimeSpan _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private long _lastAt = time.GetTimestamp();

    /// <summary>Takes a snapshot now and records it.</summary>
    public void Sample()
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var now = time.GetTimestamp();
        var wall = time.GetElapsedTime(_lastAt, now);
        var share = wall > TimeSpan.Zero ? Math.Clamp((cpu - _lastCpu) / (wall * Environment.ProcessorCount), 0, 1) : 0;
        (_lastCpu, _lastAt) = (cpu, now);
        var (sent, received) = ResourceReadings.NetworkCounters();
        var gpu = _gpus();
        events.Emit(new ResourceSnapshot(
            share, process.WorkingSet64, gpu.Count > 0 ? gpu.Sum(g => g.MemoryUsedBytes) : null, gpu.Count > 0 ? gpu.Average(g => g.Utilization) : null,
            sent, received, ResourceReadings.FreeDisk(directory)));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _timer.WaitForNextTickAsync(stoppingToken))
            {
                Sample();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public override void Dispose()
    {
        _timer.Dispose();
        base.Dispose();
    }
}
