namespace Coordinator.Events.Timeline;

/// <summary>
/// Snapshots of a timeline's state every <see cref="Interval"/> events, so the state at a moment folds from the last
/// snapshot that moment includes whole instead of from the run's start. Causal order is not wall-time order (clocks
/// disagree), so a snapshot serves a moment at or after the latest time among its events, and a fold stops once every
/// event left is later than the moment (known per stretch of <see cref="Interval"/> events). Built on first use, in one
/// pass over the events; a grown run's keeps the snapshots of the events it shares at its start with the run before it
/// grew, and folds on from the last of them (a live run grows at its end, so that is nearly all of them).
/// </summary>
internal sealed class StateSnapshots
{
    /// <summary>Events between snapshots, unless given: a point query folds at most about this many events and what the clocks disorder.</summary>
    public const int DefaultInterval = 16_384;

    private readonly RunTimeline _timeline;
    private readonly List<Snapshot> _snapshots = [];

    // Per stretch of Interval events from the stretch's start, the earliest time of the events from there to the end.
    private readonly DateTimeOffset[] _earliestFrom;

    public StateSnapshots(RunTimeline timeline, int interval = DefaultInterval)
        : this(timeline, interval, [])
    {
    }

    /// <summary>
    /// Snapshots of <paramref name="timeline"/> going on from <paramref name="kept"/>: an earlier timeline's (same interval),
    /// each of whose events before its <see cref="Snapshot.Next"/> are this one's too, in the same places (see <see cref="Before"/>).
    /// </summary>
    public StateSnapshots(RunTimeline timeline, int interval, IReadOnlyList<Snapshot> kept)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, 1);
        ArgumentNullException.ThrowIfNull(kept);
        (_timeline, Interval, Kept) = (timeline, interval, kept.Count);
        _snapshots.AddRange(kept);
        var events = timeline.Events;
        var (start, fold, latest) = kept.Count > 0 ? (kept[^1].Next, kept[^1].Fold.Copy(), kept[^1].Latest) : (0, new StateFold(), DateTimeOffset.MinValue);
        for (var i = start; i < events.Count; i++)
        {
            if (i > start && i % interval == 0)
            {
                _snapshots.Add(new Snapshot(i, latest, fold.Copy()));
            }

            fold.Apply(events[i]);
            latest = events[i].Stamp.Timestamp > latest ? events[i].Stamp.Timestamp : latest;
        }

        _earliestFrom = new DateTimeOffset[(events.Count + interval - 1) / interval];
        var earliest = DateTimeOffset.MaxValue;
        for (var i = events.Count - 1; i >= 0; i--)
        {
            earliest = events[i].Stamp.Timestamp < earliest ? events[i].Stamp.Timestamp : earliest;
            if (i % interval == 0)
            {
                _earliestFrom[i / interval] = earliest;
            }
        }
    }

    /// <summary>Events between snapshots.</summary>
    public int Interval { get; }

    /// <summary>How many snapshots were kept from an earlier timeline's.</summary>
    public int Kept { get; }

    /// <summary>The snapshots that hold only this timeline's first <paramref name="unchanged"/> events.</summary>
    public IReadOnlyList<Snapshot> Before(int unchanged) => [.. _snapshots.TakeWhile(s => s.Next <= unchanged)];

    /// <summary>The state at <paramref name="at"/>: every event recorded at or before it, in causal order, folded.</summary>
    public ClusterState StateAt(DateTimeOffset at)
    {
        // The latest time among a snapshot's events only grows from one snapshot to the next: the last one at or before the moment.
        var (low, high) = (0, _snapshots.Count - 1);
        while (low <= high)
        {
            var middle = (low + high) / 2;
            (low, high) = _snapshots[middle].Latest <= at ? (middle + 1, high) : (low, middle - 1);
        }

        var (from, fold) = high >= 0 ? (_snapshots[high].Next, _snapshots[high].Fold.Copy()) : (0, new StateFold());
        var events = _timeline.Events;
        for (var i = from; i < events.Count; i++)
        {
            if (i % Interval == 0 && _earliestFrom[i / Interval] > at)
            {
                break;
            }

            if (events[i].Stamp.Timestamp <= at)
            {
                fold.Apply(events[i]);
            }
        }

        return fold.State(_timeline.RunId, at);
    }
}

/// <summary>The state folded from a timeline's events before <paramref name="Next"/>, the latest time among them.</summary>
internal readonly record struct Snapshot(int Next, DateTimeOffset Latest, StateFold Fold);
