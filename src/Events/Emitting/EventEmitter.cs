using System.Diagnostics;
using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Spool;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordinator.Events.Emitting;

/// <summary>
/// Where a node's code records the facts of a run. <see cref="Emit"/> stamps the event (wall time, hybrid clock, the
/// current activity's trace and span when it is recorded) and only enqueues it, so emitting never waits for a disk or the network; one
/// background writer gives events their gapless per-node sequence, in the order they were stamped, and appends them
/// to the node's <see cref="EventSpool"/>. A transfer's progress is kept at most every 5 s, its first and last always
/// (<see cref="ProgressThrottle"/>).
/// </summary>
public sealed partial class EventEmitter : IRunEvents, IAsyncDisposable
{
    // Emitters append to _pending under the stamping lock; the writer swaps it for its emptied list, so a burst costs the
    // writer one lock and the emitters no allocation. The writer is woken only when it waits, not once per event.
    private readonly Lock _stamping = new();
    private readonly SemaphoreSlim _wake = new(0);
    private List<Pending> _pending = new(256);
    private bool _writerWaits;
    private bool _completed;

    private readonly EventSpool _spool;
    private readonly HybridClock _clock;
    private readonly TimeProvider _time;
    private readonly Task _writer;

    private readonly ILogger _logger;
    private readonly ProgressThrottle _progress = new();
    private long _lost;

    /// <summary>Starts the background writer on <paramref name="spool"/>, continuing its sequence.</summary>
    public EventEmitter(EventSpool spool, HybridClock clock, TimeProvider time, string runId, string nodeId, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        ArgumentNullException.ThrowIfNull(spool);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        (_spool, _clock, _time, RunId, NodeId) = (spool, clock, time, runId, nodeId);
        _writer = Task.Run(WriteAsync);
    }

    /// <summary>The run this node's events belong to.</summary>
    public string RunId { get; }

    /// <summary>This node.</summary>
    public string NodeId { get; }

    /// <summary>Events the spool refused (a full disk), or emitted after the emitter was disposed (a process torn down).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Progress events not kept: a transfer's progress is kept at most once every 5 s (see <see cref="ProgressThrottle"/>).</summary>
    public long ThrottledProgress
    {
        get
        {
            lock (_stamping)
            {
                return _progress.Dropped;
            }
        }
    }

    /// <summary>Records a fact; returns at once (the event is written by the background writer).</summary>
    public void Emit(RunEventBody body, EventTags? tags = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        // Only a recorded activity's trace reaches a backend; an unsampled one would name a trace nobody has.
        var activity = Activity.Current is { Recorded: true } current ? current : null;
        bool wake;
        lock (_stamping)
        {
            if (_completed || _writer.IsCompleted)
            {
                // Disposed, or the writer died (it counted and logged why): nothing would write this fact.
                Interlocked.Increment(ref _lost);
                return;
            }

            // Stamped and queued under one lock, so sequence order (the queue's) and clock order agree; one wall clock
            // reading serves both stamps.
            var now = _time.GetUtcNow();
            tags ??= EventTags.None;
            if (body is TransferProgressed or TransferStarted or TransferCompleted && !_progress.Keep(body, tags, now))
            {
                return;
            }

            _pending.Add(new Pending(tags, body, now, _clock.Next(now), activity?.TraceId ?? default, activity?.SpanId ?? default));
            (wake, _writerWaits) = (_writerWaits, false);
        }

        if (wake)
        {
            _wake.Release();
        }
    }

    /// <summary>Stops taking events, writes what is queued, and returns when it is in the spool.</summary>
    public async ValueTask DisposeAsync()
    {
        bool wake;
        lock (_stamping)
        {
            _completed = true;
            (wake, _writerWaits) = (_writerWaits, false);
        }

        if (wake)
        {
            _wake.Release();
        }

        await _writer;
        _wake.Dispose();
    }

    private async Task WriteAsync()
    {
        var batch = new List<Pending>(256);
        while (true)
        {
            bool wait;
            lock (_stamping)
            {
                wait = _pending.Count == 0;
                if (wait && _completed)
                {
                    return;
                }

                if (wait)
                {
                    _writerWaits = true;
                }
                else
                {
                    (batch, _pending) = (_pending, batch);
                }
            }

            if (wait)
            {
                await _wake.WaitAsync();
                continue;
            }

            // What was queued goes out in one flush: one write to the operating system per burst, not per event.
            foreach (var (tags, body, at, clock, trace, span) in batch)
            {
                try
                {
                    var traced = trace != default;
                    _spool.Append(new RunEvent(
                        new EventStamp(RunId, NodeId, _spool.LastSequence + 1, at, clock, traced ? trace.ToHexString() : null, traced ? span.ToHexString() : null), tags, body));
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The writer must outlive a failed append (a full disk, an event it cannot encode), or every later fact
                    // would be lost with it.
                    if (Interlocked.Increment(ref _lost) == 1)
                    {
                        LogLost(_logger, ex, body.Type);
                    }
                }
            }

            batch.Clear();
            try
            {
                _spool.Flush();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                LogFlushFailed(_logger, ex);
            }
        }
    }

    private readonly record struct Pending(EventTags Tags, RunEventBody Body, DateTimeOffset At, HybridTime Clock, ActivityTraceId Trace, ActivitySpanId Span);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A run event ({Type}) could not be spooled; this node's timeline will miss it (counted in Lost; later failures are not logged)")]
    private static partial void LogLost(ILogger logger, Exception exception, string type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The run event spool could not be flushed; it is tried again with the next events")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception);
}
