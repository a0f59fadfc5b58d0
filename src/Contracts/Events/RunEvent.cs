namespace Coordinator.Contracts.Events;

/// <summary>
/// One fact of a run, as recorded by the node that observed it: when and where (<see cref="Stamp"/>), what it is about
/// (<see cref="Tags"/>), and what happened (<see cref="Body"/>, one type per kind of fact). Facts only: nothing that
/// can be derived from other events is an event.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RunEvent(
    [property: Id(0)] EventStamp Stamp,
    [property: Id(1)] EventTags Tags,
    [property: Id(2)] RunEventBody Body);

/// <summary>
/// Where an event stands. A run is one start of a cluster (the demo makes one per invocation); sessions, models and
/// operations are tags within it. <paramref name="Sequence"/> counts a node's events from 1 without gaps, so a missing
/// number is a lost event; <paramref name="Clock"/> orders events across nodes so that a cause precedes its effects
/// even when wall clocks disagree.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EventStamp(
    [property: Id(0)] string RunId,
    [property: Id(1)] string NodeId,
    [property: Id(2)] long Sequence,
    [property: Id(3)] DateTimeOffset Timestamp,
    [property: Id(4)] HybridTime Clock,
    [property: Id(5)] string? TraceId,
    [property: Id(6)] string? SpanId);

/// <summary>
/// What an event is about, as typed fields (never free text), so a timeline can follow one thing across nodes.
/// Unset fields are null.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EventTags(
    [property: Id(0)] string? SessionId = null,
    [property: Id(1)] string? ModelId = null,
    [property: Id(2)] string? OperationId = null,
    [property: Id(3)] string? ReplicaId = null,
    [property: Id(4)] string? BatchId = null,
    [property: Id(5)] string? BlobHash = null,
    [property: Id(6)] string? TransferId = null)
{
    /// <summary>No tags.</summary>
    public static EventTags None { get; } = new();
}

/// <summary>What happened. Each kind of fact is one sealed type; <see cref="Type"/> is its stable name in stores and exports.</summary>
[GenerateSerializer]
public abstract record RunEventBody
{
    /// <summary>The event's stable name, "area.fact" (for example "training.finished").</summary>
    public abstract string Type { get; }
}
