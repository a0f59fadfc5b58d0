using Coordinator.Contracts.Events;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Coordinator.Events.Live;

/// <summary>
/// A run's live feed (<see cref="IRunFeedGrain"/>): subscribed implicitly to the run's stream, it keeps the newest
/// <see cref="Window"/> events in the order they were stored, dropping any it has already had from a node (a batch
/// published again). Reentrant, so readers waiting for events never hold up their delivery. Cursors start at the
/// activation's start time in microseconds: a cursor from an earlier activation (the silo holding the feed died or the
/// feed was idle) reads as fallen behind, a gap, and never as a position in this one.
/// </summary>
[ImplicitStreamSubscription(RunFeed.Namespace)]
[Reentrant]
internal sealed class RunFeedGrain : Grain, IRunFeedGrain, IStreamSubscriptionObserver
{
    /// <summary>How many of the newest events the feed keeps for readers that fell behind.</summary>
    public const int Window = 4096;

    /// <summary>The most events one page holds.</summary>
    public const int PageSize = 1000;

    private readonly RunEvent[] _ring = new RunEvent[Window];
    private readonly Dictionary<string, long> _lastSequence = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly long _start;
    private long _position;
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RunFeedGrain(IServiceProvider services)
    {
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _start = _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        _position = _start;
    }

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory) =>
        await handleFactory.Create<StoredEvents>().ResumeAsync((batch, _) => Receive(batch));

    public async Task<FeedPage> ReadAsync(long? after, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var from = after ?? _position;
        if (from == _position && wait > TimeSpan.Zero)
        {
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(_arrived.Task, Task.Delay(wait, _time, waiting.Token));
            await waiting.CancelAsync();
        }

        // The event stored at position p is read by a cursor at p. Cursors from oldest to _position are this activation's;
        // anything else fell behind, or came from an earlier one.
        var oldest = _position - Math.Min(_position - _start, Window);
        var gap = from < oldest || from > _position;
        var first = gap ? oldest : from;
        var count = (int)Math.Min(_position - first, PageSize);
        var events = new RunEvent[count];
        for (var i = 0; i < count; i++)
        {
            events[i] = _ring[(first + i) % Window];
        }

        return new FeedPage(first + count, gap, events);
    }

    private Task Receive(StoredEvents batch)
    {
        var received = _position;
        foreach (var e in batch.Events)
        {
            ref var last = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_lastSequence, e.Stamp.NodeId, out _);
            if (e.Stamp.Sequence <= last)
            {
                continue;
            }

            last = e.Stamp.Sequence;
            _ring[_position % Window] = e;
            _position++;
        }

        if (_position > received)
        {
            var arrived = _arrived;
            _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
            arrived.TrySetResult();
        }

        return Task.CompletedTask;
    }
}
