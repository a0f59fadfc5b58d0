namespace Coordinator.Contracts.Events;

/// <summary>
/// Holds one node's events of one run in the event store (key: <see cref="RecorderKeys.Of"/>). Each node's shipper sends what its
/// spool holds, in sequence order, and trims its spool through the high-water mark the recorder answers. An append is
/// idempotent by (node, sequence): events at or below the high-water mark are already held and are dropped, so a batch
/// sent again after a lost answer is stored once.
/// </summary>
public interface IEventRecorderGrain : IGrainWithStringKey
{
    /// <summary>The highest sequence held for this node and run; 0 when none is.</summary>
    Task<long> GetHighWaterAsync();

    /// <summary>
    /// Stores the events above the high-water mark and answers the new one. The events must be this node's and run's,
    /// in sequence order, and continue the high-water mark without a gap (InvalidArgument otherwise, nothing stored).
    /// </summary>
    Task<long> AppendAsync(IReadOnlyList<RunEvent> events);
}

/// <summary>The keys of <see cref="IEventRecorderGrain"/>: run id, a slash, node id (run ids have no slash).</summary>
public static class RecorderKeys
{
    /// <summary>The key of the recorder of <paramref name="nodeId"/>'s events in <paramref name="runId"/>.</summary>
    public static string Of(string runId, string nodeId) => $"{runId}/{nodeId}";

    /// <summary>The run and node a recorder key names.</summary>
    public static (string RunId, string NodeId) Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && slash < key.Length - 1
            ? (key[..slash], key[(slash + 1)..])
            : throw new ArgumentException($"Recorder key '{key}' is not 'run/node'.", nameof(key));
    }
}
