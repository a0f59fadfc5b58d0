using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Events.Live;
using Coordinator.Events.Store;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace Coordinator.Events.Recording;

/// <summary>
/// Holds one node's events of one run in the <see cref="IEventStore"/>. The store makes appends idempotent; this grain
/// checks that a batch is the node's and run's and in sequence order, and serializes the node's appends (one activation per
/// node, calls one at a time). What it stores for the first time it then publishes on the run's live feed stream
/// (<see cref="RunFeed"/>); a failed publish is logged and costs only live views, never the append. It lives on
/// coordinator silos only: trainer hosts do not host this assembly's grains.
/// </summary>
internal sealed partial class EventRecorderGrain(IEventStore store, ILogger<EventRecorderGrain> logger) : Grain, IEventRecorderGrain
{
    /// <summary>How long an append waits for its batch to be published on the live feed.</summary>
    internal static readonly TimeSpan PublishWait = TimeSpan.FromSeconds(1);

    private string _runId = "";
    private string _nodeId = "";
    private IAsyncStream<StoredEvents>? _feed;

    // The highest sequence this activation knows the store holds (read at the first append), so a batch sent again is
    // not published again.
    private long? _held;
    private bool _feedFailing;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_runId, _nodeId) = RecorderKeys.Parse(this.GetPrimaryKeyString());
        _feed = this.GetStreamProvider(RunFeed.Provider).GetStream<StoredEvents>(StreamId.Create(RunFeed.Namespace, _runId));
        return Task.CompletedTask;
    }

    public async Task<long> GetHighWaterAsync() => (_held = await store.HighWaterAsync(_runId, _nodeId)).Value;

    public async Task<long> AppendAsync(IReadOnlyList<RunEvent> events)
    {
        if (events is null || events.Count == 0)
        {
            throw CoordinatorException.InvalidArgument("Events must contain at least one event.");
        }

        for (var i = 0; i < events.Count; i++)
        {
            var stamp = events[i]?.Stamp ?? throw CoordinatorException.InvalidArgument($"Events[{i}] must not be null.");
            if (stamp.RunId != _runId || stamp.NodeId != _nodeId)
            {
                throw CoordinatorException.InvalidArgument($"Events[{i}] is node '{stamp.NodeId}' in run '{stamp.RunId}'; this recorder holds node '{_nodeId}' in run '{_runId}'.");
            }

            if (i > 0 && stamp.Sequence <= events[i - 1].Stamp.Sequence)
            {
                throw CoordinatorException.InvalidArgument($"Events[{i}] has sequence {stamp.Sequence}; it must be above Events[{i - 1}]'s, {events[i - 1].Stamp.Sequence}.");
            }
        }

        var held = _held ?? await store.HighWaterAsync(_runId, _nodeId);
        var highWater = await store.AppendAsync(_runId, _nodeId, events);
        _held = highWater;
        LogAppended(_nodeId, _runId, events.Count, highWater);
        var fresh = events.Where(e => e.Stamp.Sequence > held).ToList();
        if (fresh.Count > 0)
        {
            await PublishAsync(fresh);
        }

        return highWater;
    }

    private async Task PublishAsync(List<RunEvent> fresh)
    {
        // The stream's queue is a grain on some coordinator silo: until a silo that died is declared dead, a publish to it
        // would wait for the call's whole response timeout, and the node's shipping with it. The append waits for a
        // publish no longer than this; one still running goes on alone (a late batch the feed has passed is dropped there).
        var publish = _feed!.OnNextAsync(new StoredEvents(fresh));
        _ = publish.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            await publish.WaitAsync(PublishWait);
            if (_feedFailing)
            {
                _feedFailing = false;
                LogFeedResumed(_nodeId, _runId);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Once per streak: a warning is itself recorded as an event, which comes back through here.
            if (!_feedFailing)
            {
                _feedFailing = true;
                LogFeedFailed(ex, _nodeId, _runId);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Node {NodeId} in run {RunId}: {Count} event(s) received, held through {HighWater}")]
    private partial void LogAppended(string nodeId, string runId, int count, long highWater);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {NodeId} in run {RunId}: stored events could not be published on the live feed; live views miss them until it answers (the store holds them)")]
    private partial void LogFeedFailed(Exception exception, string nodeId, string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} in run {RunId}: the live feed answers again")]
    private partial void LogFeedResumed(string nodeId, string runId);
}
