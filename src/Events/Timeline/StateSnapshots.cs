namespace Coordinator.Events.Timeline;

/// <summary>
/// Snapshots of a timeline's state every <see cref="Interval"/> events, so the state at a moment folds from the last
/// snapshot that moment includes whole instead of from the run's start. Causal order is not wall-time order (clocks
/// disagree), so a snapshot serves a moment at or after the latest time among its events, and a fold stops once every
/// event left is later than the moment (known per stretch of <see cref="Interval"/> events). Built on first use, in one
/// pass over the events.
/// </summary>
internal sealed class StateSnapshots
{
    /// <summary>Events between snapshots, unless given: a point query folds at most about this many events and what the clocks disorder.</summary>
    public const int DefaultInterval = 16_384;

    private readonly RunTimeline _timeline;
    private readonly List<(int Next, DateTimeOffset Latest, StateFold Fold)> _snapshots = [];

    // Per stretch of Interval events from the stretch's start, the earliest time of the events from there to the end.
    private readonly DateTimeOffset[] _earliestFrom;

    public StateSnapshots(RunTimeline timeline, int interval = DefaultInterval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, 1);
        (_timeline, Interval) = (timeline, interval);
        var events = timeline.Events;
        var fold = new StateFold();
        var latest = DateTimeOffset.MinValue;
        for (var i = 0; i < events.Count; i++)
        {
            if (i > 0 && i % interval == 0)
            {
                _snapshots.Add((i, latest, fold.Copy()));
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
