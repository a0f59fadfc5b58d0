using Coordinator.Events.Store;

namespace Coordinator.Events.Timeline;

/// <summary>
/// Keeps the last few runs loaded (merged) for the silo's timeline API, so scrubbing a run (a state query per cursor
/// move) does not read and merge every event again: a request only asks the store for each node's high-water mark,
/// and when any moved (a live run) or a node appeared, reads what the nodes added and merges it in. Holds at most
/// <paramref name="maxEvents"/> events (a run in memory takes about 500 bytes an event): past it the least used runs
/// leave, never the one just read. Thread-safe.
/// </summary>
public sealed class TimelineCache(IEventStore store, int maxEvents = TimelineCache.DefaultMaxEvents)
{
    /// <summary>The events held unless told otherwise: about 1 GB.</summary>
    public const int DefaultMaxEvents = 2_000_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _uses;

    /// <summary>The run as the store holds it now; <see cref="KeyNotFoundException"/> when it holds nothing of it.</summary>
    public async Task<RunTimeline> LoadAsync(string runId)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        var nodes = await store.NodesAsync(runId);
        if (nodes.Count == 0)
        {
            throw new KeyNotFoundException($"The event store holds no run '{runId}'.");
        }

        // Marks read before loading: an event appended meanwhile makes the next request reload, never miss it.
        var marks = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            marks[node] = await store.HighWaterAsync(runId, node);
        }

        RunTimeline? held = null;
        lock (_lock)
        {
            if (_entries.TryGetValue(runId, out var cached))
            {
                cached.Used = ++_uses;
                if (Same(cached.Marks, marks))
                {
                    return cached.Timeline;
                }

                held = cached.Timeline;
            }
        }

        // Grown: only the nodes whose marks moved past what the timeline holds are read.
        var timeline = held is null
            ? await RunTimeline.LoadAsync(store, runId, nodes)
            : await held.ExtendAsync(store, nodes.Where(n => marks[n] != held.Last.GetValueOrDefault(n)));
        lock (_lock)
        {
            _entries[runId] = new Entry(timeline, marks) { Used = ++_uses };
            while (_entries.Count > 1 && _entries.Values.Sum(e => e.Timeline.Events.Count) > maxEvents)
            {
                _entries.Remove(_entries.Where(e => e.Key != runId).MinBy(e => e.Value.Used).Key);
            }
        }

        return timeline;
    }

    private static bool Same(IReadOnlyDictionary<string, long> a, Dictionary<string, long> b) =>
        a.Count == b.Count && a.All(mark => b.TryGetValue(mark.Key, out var other) && other == mark.Value);

    private sealed record Entry(RunTimeline Timeline, IReadOnlyDictionary<string, long> Marks)
    {
        public long Used { get; set; }
    }
}
