using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// What the run's events say the cluster was at one moment (wall time): each node (role, last event, last resource
/// snapshot), each session, model and replica (status since when, and why), and the operations submitted but without
/// an outcome yet. A projection: folded from the merged events up to that moment (<see cref="StateFold"/>).
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
    /// <summary>
    /// The state at <paramref name="at"/>: every event recorded at or before it, in causal order, folded (from the
    /// timeline's last snapshot that holds only such events, see <see cref="StateSnapshots"/>).
    /// </summary>
    public static ClusterState Of(RunTimeline timeline, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        return timeline.Snapshots.StateAt(at);
    }
}

/// <summary>A node as its events describe it.</summary>
public sealed record NodeState(string NodeId, NodeRole? Role, DateTimeOffset? StartedAt, DateTimeOffset LastEventAt, int Events, ResourceSnapshot? Resources);

/// <summary>A session, model or replica: its last recorded status, since when, why, and which node recorded it.</summary>
public sealed record EntityState(EntityKind Kind, string Id, string Status, string? Reason, DateTimeOffset Since, string Node);

/// <summary>An operation submitted without an outcome yet; <paramref name="RanOn"/> is the trainer node that finished running it, if one did.</summary>
public sealed record OperationInFlight(string OperationId, string Kind, string? ModelId, DateTimeOffset SubmittedAt, string Node, string? RanOn);
