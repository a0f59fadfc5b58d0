using Coordinator.Contracts.Events;

namespace Coordinator.Events.Store;

/// <summary>
/// Where the run events of every node are kept: per run, per node, in sequence order. Appends are idempotent by
/// (node, sequence): events at or below the node's high-water mark are dropped, so a batch sent twice is held once.
/// A node's sequence is gapless, so a hole in what is held (a record its spool lost to a damaged disk) shows in the
/// timeline's check. Runs older than the retention are deleted.
/// </summary>
public interface IEventStore
{
    /// <summary>The highest sequence held for <paramref name="nodeId"/> in <paramref name="runId"/>; 0 when none.</summary>
    Task<long> HighWaterAsync(string runId, string nodeId);

    /// <summary>Stores the node's events above its high-water mark (given in sequence order) and answers the new mark.</summary>
    Task<long> AppendAsync(string runId, string nodeId, IReadOnlyList<RunEvent> events);

    /// <summary>The runs held, newest first.</summary>
    Task<IReadOnlyList<string>> RunsAsync();

    /// <summary>The nodes that recorded events in <paramref name="runId"/>.</summary>
    Task<IReadOnlyList<string>> NodesAsync(string runId);

    /// <summary>The node's events after <paramref name="after"/>, in sequence order, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<RunEvent>> ReadAsync(string runId, string nodeId, long after = 0, int max = int.MaxValue);

    /// <summary>Deletes the runs last written more than the retention ago; answers how many.</summary>
    Task<int> PruneAsync();

    /// <summary>The events above <paramref name="last"/>, each above the one before: what a batch adds to a node's events.</summary>
    internal static List<RunEvent> Above(IReadOnlyList<RunEvent> events, long last)
    {
        var above = new List<RunEvent>(events.Count);
        foreach (var runEvent in events)
        {
            if (runEvent.Stamp.Sequence > last)
            {
                above.Add(runEvent);
                last = runEvent.Stamp.Sequence;
            }
        }

        return above;
    }
}
