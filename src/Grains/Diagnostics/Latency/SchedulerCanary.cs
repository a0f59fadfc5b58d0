using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Telemetry;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// Says whether the .NET thread pool keeps up: every <c>Diagnostics:SchedulerCanaryPeriod</c> it queues a work item and
/// records how long the item waited to run (<c>coordinator_runtime_scheduler_delay_seconds</c>). Grain turns run on that
/// pool, so a delay here is a delay every call on the process pays before its handler starts; it is not device time
/// (the trainer's compute runs on its own thread). A delay above the stall threshold is also written to the slow-call
/// file, where <c>diagnose</c> finds it. Also the pool's queue length and thread count as gauges.
/// </summary>
/// <remarks>
/// The canary queues from a thread of its own, on the real clock: a timer's callback would itself wait for the pool,
/// and a stall would delay the measurement instead of showing in it. One item is out at a time.
/// </remarks>
internal sealed class SchedulerCanary : IHostedService, IDisposable
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
    private readonly TimeSpan _stall;
    private readonly SlowCallLog? _slowCalls;
    private readonly ManualResetEventSlim _stopping = new();
    private readonly SemaphoreSlim _ran = new(0);
    private Thread? _thread;

    public SchedulerCanary(TimeSpan period, TimeSpan stall, SlowCallLog? slowCalls)
    {
        (_period, _stall, _slowCalls) = (period, stall, slowCalls);
        _delay = _meter.CreateHistogram(SchedulerDelay, "s", "How long a work item queued on the .NET thread pool waited to start.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });
        _meter.CreateObservableGauge(QueueLength, () => ThreadPool.PendingWorkItemCount, null, "Work items waiting in the .NET thread pool's queues.");
        _meter.CreateObservableGauge(Threads, () => ThreadPool.ThreadCount, null, ".NET thread pool threads.");
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "Coordinator scheduler canary" };
        _thread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Set();
        _thread?.Join();
        return Task.CompletedTask;
    }

    // The events are not disposed: a work item still queued at stop may signal after disposal.
    public void Dispose() => _meter.Dispose();

    private void Run()
    {
        var stop = _stopping.WaitHandle;
        while (!_stopping.Wait(_period))
        {
            var queued = Stopwatch.GetTimestamp();
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.Canary.Ran(state.Queued), (Canary: this, Queued: queued), preferLocal: false);
            if (WaitHandle.WaitAny([_ran.AvailableWaitHandle, stop]) == 1)
            {
                // Stopping: give the item in flight a moment, so a stall it is measuring is not lost.
                _ran.Wait(TimeSpan.FromSeconds(1));
                return;
            }

            _ran.Wait();
        }
    }

    private void Ran(long queued)
    {
        var delay = Stopwatch.GetElapsedTime(queued);
        _delay.Record(delay.TotalSeconds);
        if (delay > _stall)
        {
            _slowCalls?.Stall(delay);
        }

        _ran.Release();
    }
}
