using Coordinator.Contracts.Events;

namespace Coordinator.Events.Live;

/// <summary>
/// The names of the live feed: the Orleans stream on which each recorder publishes what it has just stored, one stream
/// per run (key: the run id) in namespace <see cref="Namespace"/> of stream provider <see cref="Provider"/>.
/// </summary>
public static class RunFeed
{
    /// <summary>The stream provider (memory streams on the coordinator silos).</summary>
    public const string Provider = "coordinator-events";

    /// <summary>The namespace of the runs' feed streams.</summary>
    public const string Namespace = "coordinator.events.stored";
}

/// <summary>Events one recorder has just stored: one node's, in sequence order, none of them published before.</summary>
[GenerateSerializer, Immutable]
public sealed record StoredEvents([property: Id(0)] IReadOnlyList<RunEvent> Events);

/// <summary>
/// What a reader of a run's feed gets: the events the recorders stored after its cursor, in the order they were stored,
/// and the cursor to read on from (<paramref name="Next"/>). <paramref name="Gap"/> says some events between the old
/// cursor and these were not kept (the reader fell more than <see cref="IRunFeedGrain"/>'s window behind, or the feed
/// restarted): read the store for them.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FeedPage(
    [property: Id(0)] long Next,
    [property: Id(1)] bool Gap,
    [property: Id(2)] IReadOnlyList<RunEvent> Events);

/// <summary>
/// The live feed of one run (key: the run id), for views that follow a running cluster: it receives every batch the
/// run's recorders store, on the run's stream, and keeps the newest in memory. Best effort: the store is the record, and a
/// reader that sees <see cref="FeedPage.Gap"/> reads it.
/// </summary>
public interface IRunFeedGrain : IGrainWithStringKey
{
    /// <summary>
    /// The events stored after <paramref name="after"/> (a <see cref="FeedPage.Next"/>; null: from now on). When there is
    /// none yet, waits up to <paramref name="wait"/> for some, then answers an empty page.
    /// </summary>
    Task<FeedPage> ReadAsync(long? after, TimeSpan wait, CancellationToken cancellationToken = default);
}
