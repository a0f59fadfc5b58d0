using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// What the run's events say the cluster was at one moment (wall time): each node (role, last event, last resource
/// snapshot), each session, model and replica (status since when, and why), and the operations submitted but without
/// an outcome yet. A projection: folded from the merged events up to that moment.
/// </summary>
public sealed record ClusterState(
    string RunId,
    DateTimeOffset At,
    IReadOnlyList<NodeState> Nodes,
    IReadOnlyList<EntityState> Entities,
    IReadOnlyList<OperationInFlight> InFlight,
    int OperationsSucceeded,
    int OperationsFailed)
{
    /// <summary>The state at <paramref name="at"/>: every event recorded at or before it, in causal order, folded.</summary>
    public static ClusterState Of(RunTimeline timeline, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(timeline);

        // Folded into mutable per-node tallies, records made once at the end: a fold allocates per change, not per event.
        var nodes = new Dictionary<string, NodeTally>(StringComparer.Ordinal);
        var entities = new Dictionary<(EntityKind, string), EntityState>();
        var inFlight = new Dictionary<string, OperationInFlight>(StringComparer.Ordinal);
        var (succeeded, failed) = (0, 0);
        foreach (var runEvent in timeline.Events)
        {
            var (stamp, tags) = (runEvent.Stamp, runEvent.Tags);
            if (stamp.Timestamp > at)
            {
                continue;
            }

            if (!nodes.TryGetValue(stamp.NodeId, out var node))
            {
                nodes[stamp.NodeId] = node = new NodeTally { LastEventAt = stamp.Timestamp };
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
                    entities[(changed.Entity, changed.EntityId)] = new EntityState(changed.Entity, changed.EntityId, changed.To, changed.Reason, stamp.Timestamp, stamp.NodeId);
                    break;
                case OperationSubmitted submitted when tags.OperationId is { } id:
                    inFlight[id] = new OperationInFlight(id, submitted.Kind, tags.ModelId, stamp.Timestamp, stamp.NodeId, null);
                    break;
                case TrainingFinished when tags.OperationId is { } id && inFlight.TryGetValue(id, out var running):
                    inFlight[id] = running with { RanOn = stamp.NodeId };
                    break;
                case OperationCompleted completed when tags.OperationId is { } id:
                    inFlight.Remove(id);
                    if (completed.Succeeded)
                    {
                        succeeded++;
                    }
                    else
                    {
                        failed++;
                    }

                    break;
            }
        }

        return new ClusterState(
            timeline.RunId,
            at,
            [.. nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => new NodeState(n.Key, n.Value.Role, n.Value.StartedAt, n.Value.LastEventAt, n.Value.Events, n.Value.Resources))],
            [.. entities.Values.OrderBy(e => e.Kind).ThenBy(e => e.Id, StringComparer.Ordinal)],
            [.. inFlight.Values.OrderBy(o => o.SubmittedAt)],
            succeeded,
            failed);
    }

    private sealed class NodeTally
    {
        public NodeRole? Role { get; set; }

        public DateTimeOffset? StartedAt { get; set; }

        public DateTimeOffset LastEventAt { get; set; }

        public int Events { get; set; }

        public ResourceSnapshot? Resources { get; set; }
    }
}

/// <summary>A node as its events describe it.</summary>
public sealed record NodeState(string NodeId, NodeRole? Role, DateTimeOffset? StartedAt, DateTimeOffset LastEventAt, int Events, ResourceSnapshot? Resources);

/// <summary>A session, model or replica: its last recorded status, since when, why, and which node recorded it.</summary>
public sealed record EntityState(EntityKind Kind, string Id, string Status, string? Reason, DateTimeOffset Since, string Node);

/// <summary>An operation submitted without an outcome yet; <paramref name="RanOn"/> is the trainer node that finished running it, if one did.</summary>
public sealed record OperationInFlight(string OperationId, string Kind, string? ModelId, DateTimeOffset SubmittedAt, string Node, string? RanOn);
