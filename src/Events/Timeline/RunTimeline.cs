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
    private readonly List<RunEvent> _events;
    private readonly int _interval;

    private RunTimeline(
        string runId, List<RunEvent> events, Dictionary<string, IReadOnlyList<SequenceGap>> gaps, Dictionary<string, long> last, int interval, IReadOnlyList<Snapshot> kept)
    {
        RunId = runId;
        Events = _events = events;
        Gaps = gaps;
        Last = last;
        _interval = interval;
        _snapshots = new Lazy<StateSnapshots>(() => new StateSnapshots(this, interval, kept));
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>Every event of the run, in causal order.</summary>
    public IReadOnlyList<RunEvent> Events { get; }

    /// <summary>The nodes that recorded events, in name order.</summary>
    public IEnumerable<string> Nodes => Gaps.Keys.Order(StringComparer.Ordinal);

    /// <summary>Per node, the ranges of sequences between its first and last held event that are missing.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<SequenceGap>> Gaps { get; }

    /// <summary>Per node, the last sequence held.</summary>
    public IReadOnlyDictionary<string, long> Last { get; }

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

        return await LoadAsync(store, runId, nodes);
    }

    /// <summary>Reads <paramref name="nodes"/>' events of the run (listed already) from <paramref name="store"/>.</summary>
    internal static async Task<RunTimeline> LoadAsync(IEventStore store, string runId, IEnumerable<string> nodes) =>
        Merge(runId, await ReadAsync(store, runId, nodes.Select(n => (n, 0L))));

    /// <summary>
    /// This timeline with what <paramref name="store"/> holds of <paramref name="nodes"/> beyond it (a live run): read from
    /// each node's last held sequence on, and merged in.
    /// </summary>
    internal async Task<RunTimeline> ExtendAsync(IEventStore store, IEnumerable<string> nodes) =>
        With(await ReadAsync(store, RunId, nodes.Select(n => (n, Last.GetValueOrDefault(n)))));

    /// <summary>Merges nodes' events (each node's in sequence order, in one list or several) into a timeline.</summary>
    public static RunTimeline Merge(string runId, IEnumerable<IReadOnlyList<RunEvent>> perNode) => Merge(runId, perNode, StateSnapshots.DefaultInterval);

    /// <inheritdoc cref="Merge(string, IEnumerable{IReadOnlyList{RunEvent}})"/>
    internal static RunTimeline Merge(string runId, IEnumerable<IReadOnlyList<RunEvent>> perNode, int snapshotInterval)
    {
        ArgumentNullException.ThrowIfNull(perNode);
        var timeline = new RunTimeline(
            runId, [], new Dictionary<string, IReadOnlyList<SequenceGap>>(StringComparer.Ordinal), new Dictionary<string, long>(StringComparer.Ordinal), snapshotInterval, []);
        return timeline.With(perNode);
    }

    /// <summary>
    /// A timeline of these events and <paramref name="perNode"/>'s after each node's last held one (each in sequence
    /// order): the new ones are sorted and merged in one pass, so a live run grows by what it added. A node's sequences
    /// missing between what was held and what came are gaps; a node starts where its first held event is. The state
    /// snapshots made of the events before the first one added are kept.
    /// </summary>
    internal RunTimeline With(IEnumerable<IReadOnlyList<RunEvent>> perNode)
    {
        var gaps = new Dictionary<string, IReadOnlyList<SequenceGap>>(Gaps, StringComparer.Ordinal);
        var last = new Dictionary<string, long>(Last, StringComparer.Ordinal);
        var added = new List<RunEvent>();

        // By node, whatever list an event came in: each node's events are in sequence order.
        foreach (var events in perNode.SelectMany(e => e).GroupBy(e => e.Stamp.NodeId, StringComparer.Ordinal))
        {
            var node = events.Key;
            var held = last.TryGetValue(node, out var mark) ? mark : events.First().Stamp.Sequence - 1;
            var missing = new List<SequenceGap>(gaps.GetValueOrDefault(node) ?? []);
            foreach (var runEvent in events.Where(e => e.Stamp.Sequence > held))
            {
                if (runEvent.Stamp.Sequence > held + 1)
                {
                    missing.Add(new SequenceGap(held + 1, runEvent.Stamp.Sequence - 1));
                }

                added.Add(runEvent);
                held = runEvent.Stamp.Sequence;
            }

            gaps[node] = missing;
            last[node] = held;
        }

        if (added.Count == 0)
        {
            return this;
        }

        added.Sort(CausalOrder);

        // The held events up to the first added one stay where they are (a live run grows at its end: nearly all of them),
        // copied as one block; the rest are merged.
        var (low, high) = (0, _events.Count);
        while (low < high)
        {
            var middle = (low + high) / 2;
            (low, high) = CausalOrder(_events[middle], added[0]) <= 0 ? (middle + 1, high) : (low, middle);
        }

        var unchanged = low;
        var all = new List<RunEvent>(_events.Count + added.Count);
        all.AddRange(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_events)[..unchanged]);
        var (i, j) = (unchanged, 0);
        while (i < _events.Count || j < added.Count)
        {
            all.Add(j == added.Count || (i < _events.Count && CausalOrder(_events[i], added[j]) <= 0) ? _events[i++] : added[j++]);
        }

        // Only snapshots already made are kept: taking them now leaves this timeline's events to the collector.
        return new RunTimeline(RunId, all, gaps, last, _interval, _snapshots.IsValueCreated ? _snapshots.Value.Before(unchanged) : []);
    }

    /// <summary>Each node's events after the sequence given with it, read from the store in parallel.</summary>
    private static async Task<IReadOnlyList<RunEvent>[]> ReadAsync(IEventStore store, string runId, IEnumerable<(string Node, long After)> nodes) =>
        await Task.WhenAll(nodes.Select(n => Task.Run(() => store.ReadAsync(runId, n.Node, n.After))));

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
