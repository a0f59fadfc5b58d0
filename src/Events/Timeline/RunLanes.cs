namespace Coordinator.Events.Timeline;

/// <summary>One node's lane: how many of its events fall in each bucket of the run's span.</summary>
public sealed record Lane(string Node, IReadOnlyList<int> Counts);

/// <summary>
/// A run drawn as one lane per node: its span cut into equal buckets, and per node the number of events (of the types
/// asked for) in each, so a page can draw a run of any size from a few hundred numbers per node.
/// </summary>
public sealed record RunLanes(DateTimeOffset? Start, DateTimeOffset? End, TimeSpan Bucket, IReadOnlyList<Lane> Lanes)
{
    /// <summary>The most buckets a lane is cut into.</summary>
    public const int MaxBuckets = 2000;

    /// <summary>
    /// Lanes of <paramref name="timeline"/> in <paramref name="buckets"/> buckets, counting the events whose type starts
    /// with <paramref name="typePrefix"/> (all when null). Every node of the run has a lane, even one with none counted.
    /// </summary>
    public static RunLanes Of(RunTimeline timeline, int buckets, string? typePrefix)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        if (buckets is < 1 or > MaxBuckets)
        {
            throw new TimelineInputException("buckets", $"must be between 1 and {MaxBuckets} (got {buckets}).");
        }

        var nodes = timeline.Nodes.ToList();
        if (timeline.Events.Count == 0)
        {
            return new RunLanes(null, null, TimeSpan.Zero, [.. nodes.Select(n => new Lane(n, new int[buckets]))]);
        }

        var start = timeline.Events.Min(e => e.Stamp.Timestamp);
        var end = timeline.Events.Max(e => e.Stamp.Timestamp);

        // At least a millisecond per bucket, so a run of one instant still has a width.
        var bucket = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, ((end - start).Ticks / buckets) + 1));
        var counts = nodes.ToDictionary(n => n, _ => new int[buckets], StringComparer.Ordinal);
        var query = new TimelineQuery(TypePrefix: typePrefix);
        foreach (var runEvent in timeline.Events)
        {
            if (query.Matches(runEvent) && counts.TryGetValue(runEvent.Stamp.NodeId, out var lane))
            {
                lane[Math.Min(buckets - 1, (int)((runEvent.Stamp.Timestamp - start).Ticks / bucket.Ticks))]++;
            }
        }

        return new RunLanes(start, end, bucket, [.. nodes.Select(n => new Lane(n, counts[n]))]);
    }
}
