using System.Diagnostics;
using System.Threading.Channels;
using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Spool;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordinator.Events.Emitting;

/// <summary>
/// Where a node's code records the facts of a run. <see cref="Emit"/> stamps the event (wall time, hybrid clock, the
/// current activity's trace and span) and only enqueues it, so emitting never waits for a disk or the network; one
/// background writer gives events their gapless per-node sequence, in the order they were stamped, and appends them
/// to the node's <see cref="EventSpool"/>.
/// </summary>
public sealed partial class EventEmitter : IRunEvents, IAsyncDisposable
{
    private readonly Lock _stamping = new();
    private readonly Channel<(EventTags Tags, RunEventBody Body, DateTimeOffset At, HybridTime Clock, string? Trace, string? Span)> _queue =
        Channel.CreateUnbounded<(EventTags, RunEventBody, DateTimeOffset, HybridTime, string?, string?)>(new UnboundedChannelOptions { SingleReader = true });

    private readonly EventSpool _spool;
    private readonly HybridClock _clock;
    private readonly TimeProvider _time;
    private readonly Task _writer;

    private readonly ILogger _logger;
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

    /// <summary>Events the spool refused (a full disk, or a process torn down before its events were written).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Records a fact; returns at once (the event is written by the background writer).</summary>
    public void Emit(RunEventBody body, EventTags? tags = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        var activity = Activity.Current;
        lock (_stamping)
        {
            // Stamped and queued under one lock, so sequence order (the queue's) and clock order agree.
            _queue.Writer.TryWrite((tags ?? EventTags.None, body, _time.GetUtcNow(), _clock.Next(), activity?.TraceId.ToHexString(), activity?.SpanId.ToHexString()));
        }
    }

    /// <summary>Stops taking events, writes what is queued, and returns when it is in the spool.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer;
    }

    private async Task WriteAsync()
    {
        // What is queued goes out in one flush: one write to the operating system per burst, not per event.
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (_queue.Reader.TryRead(out var queued))
            {
                var (tags, body, at, clock, trace, span) = queued;
                try
                {
                    _spool.Append(new RunEvent(new EventStamp(RunId, NodeId, _spool.LastSequence + 1, at, clock, trace, span), tags, body));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
                {
                    // The writer must outlive a failed append, or every later fact would be lost with it.
                    if (Interlocked.Increment(ref _lost) == 1)
                    {
                        LogLost(_logger, ex, body.Type);
                    }
                }
            }

            try
            {
                _spool.Flush();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                LogFlushFailed(_logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A run event ({Type}) could not be spooled; this node's timeline will miss it (counted in Lost; later failures are not logged)")]
    private static partial void LogLost(ILogger logger, Exception exception, string type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The run event spool could not be flushed; it is tried again with the next events")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception);
}
