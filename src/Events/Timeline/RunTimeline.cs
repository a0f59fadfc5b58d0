using Coordinator.Contracts.Events;
using Coordinator.Events.Store;

namespace Coordinator.Events.Timeline;

/// <summary>
/// One run's events from every node, merged in causal order: by hybrid clock (a cause before its effect across nodes
/// whose wall clocks disagree), then node and sequence (a stable order for events the clock cannot tell apart). Also
/// says which sequences each node is missing: a node's sequence has no gaps when nothing was lost.
/// </summary>
public sealed class RunTimeline
{
    private readonly Lazy<StateSnapshots> _snapshots;

    private RunTimeline(string runId, IReadOnlyList<RunEvent> events, IReadOnlyDictionary<string, IReadOnlyList<SequenceGap>> gaps)
    {
        RunId = runId;
        Events = events;
        Gaps = gaps;
        _snapshots = new Lazy<StateSnapshots>(() => new StateSnapshots(this));
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>Every event of the run, in causal order.</summary>
    public IReadOnlyList<RunEvent> Events { get; }

    /// <summary>The nodes that recorded events, in name order.</summary>
    public IEnumerable<string> Nodes => Gaps.Keys.Order(StringComparer.Ordinal);

    /// <summary>Per node, the ranges of sequences between its first and last held event that are missing.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<SequenceGap>> Gaps { get; }

    /// <summary>Snapshots of the state along the run, made when a state is first asked for.</summary>
    internal StateSnapshots Snapshots => _snapshots.Value;

    /// <summary>Reads the run from <paramref name="store"/>; NotFound-like <see cref="KeyNotFoundException"/> when it holds nothing of it.</summary>
    public static async Task<RunTimeline> LoadAsync(IEventStore store, string runId)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        var nodes = await store.NodesAsync(runId);
        if (nodes.Count == 0)
        {
            throw new KeyNotFoundException($"The event store holds no run '{runId}'.");
        }

        var perNode = new List<IReadOnlyList<RunEvent>>();
        foreach (var node in nodes)
        {
            perNode.Add(await store.ReadAsync(runId, node));
        }

        return Merge(runId, perNode);
    }

    /// <summary>Merges nodes' events (each in sequence order) into a timeline.</summary>
    public static RunTimeline Merge(string runId, IEnumerable<IReadOnlyList<RunEvent>> perNode)
    {
        ArgumentNullException.ThrowIfNull(perNode);
        var gaps = new Dictionary<string, IReadOnlyList<SequenceGap>>(StringComparer.Ordinal);
        var all = new List<RunEvent>();
        foreach (var events in perNode.Where(e => e.Count > 0))
        {
            var missing = new List<SequenceGap>();
            for (var i = 1; i < events.Count; i++)
            {
                if (events[i].Stamp.Sequence > events[i - 1].Stamp.Sequence + 1)
                {
                    missing.Add(new SequenceGap(events[i - 1].Stamp.Sequence + 1, events[i].Stamp.Sequence - 1));
                }
            }

            gaps[events[0].Stamp.NodeId] = missing;
            all.AddRange(events);
        }

        all.Sort(CausalOrder);
        return new RunTimeline(runId, all, gaps);
    }

    /// <summary>The events a query selects, in causal order.</summary>
    public IEnumerable<RunEvent> Select(TimelineQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var selected = Events.Where(query.Matches);
        return query.Limit is { } limit ? selected.Take(limit) : selected;
    }

    private static int CausalOrder(RunEvent a, RunEvent b)
    {
        var clock = a.Stamp.Clock.CompareTo(b.Stamp.Clock);
        if (clock != 0)
        {
            return clock;
        }

        var node = string.CompareOrdinal(a.Stamp.NodeId, b.Stamp.NodeId);
        return node != 0 ? node : a.Stamp.Sequence.CompareTo(b.Stamp.Sequence);
    }
}

/// <summary>Sequences <paramref name="From"/> to <paramref name="To"/> (inclusive) of a node that the store does not hold.</summary>
public sealed record SequenceGap(long From, long To);
