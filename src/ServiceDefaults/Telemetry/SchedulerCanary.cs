using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Telemetry;
using Microsoft.Extensions.Hosting;

namespace Coordinator.ServiceDefaults.Telemetry;

/// <summary>
/// Says whether the .NET thread pool keeps up: every <c>Telemetry:SchedulerCanaryPeriod</c> it queues a work item and
/// records how long the item waited to run (<c>coordinator_runtime_scheduler_delay_seconds</c>). Grain turns run on that
/// pool, so a delay here is a delay every call on the process pays before its handler starts; it is not device time
/// (the trainer's compute runs on its own thread). Also the pool's queue length and thread count as gauges.
/// </summary>
internal sealed class SchedulerCanary : BackgroundService
{
    /// <summary>Histogram: how long a work item waited for a thread-pool thread.</summary>
    public const string SchedulerDelay = "coordinator.runtime.scheduler_delay";

    /// <summary>Gauge: work items waiting in the thread pool's queues.</summary>
    public const string QueueLength = "coordinator.runtime.threadpool_queue_length";

    /// <summary>Gauge: thread-pool threads.</summary>
    public const string Threads = "coordinator.runtime.threadpool_threads";

    // Finer than the call buckets at the low end: a healthy pool starts a work item within microseconds.
    private static readonly IReadOnlyList<double> Buckets = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

    private readonly Meter _meter = new(CoordinatorTelemetry.MeterName);
    private readonly Histogram<double> _delay;
    private readonly TimeSpan _period;
    private readonly TimeProvider _time;

    public SchedulerCanary(TimeSpan period, TimeProvider time)
    {
        (_period, _time) = (period, time);
        _delay = _meter.CreateHistogram(SchedulerDelay, "s", "How long a work item queued on the .NET thread pool waited to start.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });
        _meter.CreateObservableGauge(QueueLength, () => ThreadPool.PendingWorkItemCount, null, "Work items waiting in the .NET thread pool's queues.");
        _meter.CreateObservableGauge(Threads, () => ThreadPool.ThreadCount, null, ".NET thread pool threads.");
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var queued = Stopwatch.GetTimestamp();
                ThreadPool.UnsafeQueueUserWorkItem(static state => state.Canary._delay.Record(Stopwatch.GetElapsedTime(state.Queued).TotalSeconds), (Canary: this, Queued: queued), preferLocal: false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
