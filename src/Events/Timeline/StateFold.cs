using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// The cluster's state as events are folded into it one by one (<see cref="ClusterState"/> is what it says at a
/// moment): mutable per-node tallies, so a fold allocates per change, not per event; copied to keep a snapshot.
/// </summary>
internal sealed class StateFold
{
    private readonly Dictionary<string, NodeTally> _nodes;
    private readonly Dictionary<(EntityKind, string), EntityState> _entities;
    private readonly Dictionary<string, OperationInFlight> _inFlight;
    private int _succeeded;
    private int _failed;

    public StateFold()
    {
        _nodes = new Dictionary<string, NodeTally>(StringComparer.Ordinal);
        _entities = [];
        _inFlight = new Dictionary<string, OperationInFlight>(StringComparer.Ordinal);
    }

    private StateFold(StateFold from)
    {
        _nodes = from._nodes.ToDictionary(n => n.Key, n => n.Value with { }, StringComparer.Ordinal);
        _entities = new Dictionary<(EntityKind, string), EntityState>(from._entities);
        _inFlight = new Dictionary<string, OperationInFlight>(from._inFlight, StringComparer.Ordinal);
        (_succeeded, _failed) = (from._succeeded, from._failed);
    }

    /// <summary>A fold that goes on from where this one is, leaving this one as it is.</summary>
    public StateFold Copy() => new(this);

    /// <summary>Folds one more event in.</summary>
    public void Apply(RunEvent runEvent)
    {
        var (stamp, tags) = (runEvent.Stamp, runEvent.Tags);
        if (!_nodes.TryGetValue(stamp.NodeId, out var node))
        {
            _nodes[stamp.NodeId] = node = new NodeTally { LastEventAt = stamp.Timestamp };
        }

        node.LastEventAt = stamp.Timestamp > node.LastEventAt ? stamp.Timestamp : node.LastEventAt;
        node.Events++;
        switch (runEvent.Body)
        {
            case RunStarted started:
                (node.Role, node.StartedAt) = (started.Role, started.StartedAt);
                break;
            case ResourceSnapshot resources:
                node.Resources = resources;
                break;
            case StateChanged changed:
                _entities[(changed.Entity, changed.EntityId)] = new EntityState(changed.Entity, changed.EntityId, changed.To, changed.Reason, stamp.Timestamp, stamp.NodeId);
                break;
            case OperationSubmitted submitted when tags.OperationId is { } id:
                _inFlight[id] = new OperationInFlight(id, submitted.Kind, tags.ModelId, stamp.Timestamp, stamp.NodeId, null);
                break;
            case TrainingFinished when tags.OperationId is { } id && _inFlight.TryGetValue(id, out var running):
                _inFlight[id] = running with { RanOn = stamp.NodeId };
                break;
            case OperationCompleted completed when tags.OperationId is { } id:
                _inFlight.Remove(id);
                if (completed.Succeeded)
                {
                    _succeeded++;
                }
                else
                {
                    _failed++;
                }

                break;
        }
    }

    /// <summary>What the events folded so far say the cluster was at <paramref name="at"/>.</summary>
    public ClusterState State(string runId, DateTimeOffset at) => new(
        runId,
        at,
        [.. _nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => new NodeState(n.Key, n.Value.Role, n.Value.StartedAt, n.Value.LastEventAt, n.Value.Events, n.Value.Resources))],
        [.. _entities.Values.OrderBy(e => e.Kind).ThenBy(e => e.Id, StringComparer.Ordinal)],
        [.. _inFlight.Values.OrderBy(o => o.SubmittedAt)],
        _succeeded,
        _failed);

    private sealed record NodeTally
    {
        public NodeRole? Role { get; set; }

        public DateTimeOffset? StartedAt { get; set; }

        public DateTimeOffset LastEventAt { get; set; }

        public int Events { get; set; }

        public ResourceSnapshot? Resources { get; set; }
    }
}
