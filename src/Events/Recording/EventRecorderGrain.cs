using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Events.Store;
using Microsoft.Extensions.Logging;

namespace Coordinator.Events.Recording;

/// <summary>
/// Holds one node's events of one run in the <see cref="IEventStore"/>. The store makes appends idempotent; this grain
/// checks that a batch is the node's and run's and in sequence order, and serializes the node's appends (one activation per
/// node, calls one at a time). It lives on coordinator silos only: trainer hosts do not host this assembly's grains.
/// </summary>
internal sealed partial class EventRecorderGrain(IEventStore store, ILogger<EventRecorderGrain> logger) : Grain, IEventRecorderGrain
{
    private string _runId = "";
    private string _nodeId = "";

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_runId, _nodeId) = RecorderKeys.Parse(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public Task<long> GetHighWaterAsync() => store.HighWaterAsync(_runId, _nodeId);

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

        var highWater = await store.AppendAsync(_runId, _nodeId, events);
        LogAppended(_nodeId, _runId, events.Count, highWater);
        return highWater;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Node {NodeId} in run {RunId}: {Count} event(s) received, held through {HighWater}")]
    private partial void LogAppended(string nodeId, string runId, int count, long highWater);
}
