using Coordinator.Contracts.Events;
using Coordinator.Events.Spool;
using Orleans.Serialization;
using StackExchange.Redis;

namespace Coordinator.Events.Store;

/// <summary>
/// The cluster's event store: one Redis stream per run and node, <c>coordinator/{cluster}/events/{run}:{node}</c> (beside
/// the cluster's other keys, so <c>clear-persistence</c> takes them too), whose entry ids
/// are the events' sequences (<c>{sequence}-1</c>), so Redis itself orders them and refuses a repeat; each entry holds
/// the event in its compact form (<see cref="EventCodec"/>, field <c>c</c>; entries of earlier versions, field <c>e</c>,
/// in Orleans' binary format, are still read). An append is one
/// script run: it drops what the stream holds, adds the rest and renews the run's expiry (the retention).
/// The run's node set shares the run's hash slot; the run index is a sorted set by last append.
/// </summary>
public sealed class RedisEventStore(IConnectionMultiplexer redis, Serializer serializer, TimeProvider time, TimeSpan retention, string clusterId) : IEventStore
{
    private const int Page = 1000;
    private readonly string _prefix = $"coordinator/{clusterId}/events/";

    private string RunIndex => _prefix + "runs";

    // KEYS: stream, node set. ARGV: retention ms, node id, then sequence and payload pairs.
    private const string AppendScript = """
        local last = 0
        local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
        if #top > 0 then last = tonumber(string.match(top[1][1], '^(%d+)')) end
        for i = 3, #ARGV, 2 do
          local sequence = tonumber(ARGV[i])
          if sequence > last then
            redis.call('XADD', KEYS[1], ARGV[i] .. '-1', 'c', ARGV[i + 1])
            last = sequence
          end
        end
        redis.call('SADD', KEYS[2], ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[2], ARGV[1])
        return last
        """;

    /// <inheritdoc />
    public async Task<long> HighWaterAsync(string runId, string nodeId)
    {
        var top = await redis.GetDatabase().StreamRangeAsync(StreamKey(runId, nodeId), "-", "+", 1, Order.Descending);
        return top.Length == 0 ? 0 : Sequence(top[0].Id);
    }

    /// <inheritdoc />
    public async Task<long> AppendAsync(string runId, string nodeId, IReadOnlyList<RunEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var database = redis.GetDatabase();
        var arguments = new List<RedisValue> { (long)retention.TotalMilliseconds, nodeId };
        foreach (var runEvent in events)
        {
            arguments.Add(runEvent.Stamp.Sequence);
            arguments.Add(EventCodec.Encode(runEvent, serializer));
        }

        var last = (long)(await database.ScriptEvaluateAsync(AppendScript, [StreamKey(runId, nodeId), NodesKey(runId)], [.. arguments]));
        await database.SortedSetAddAsync(RunIndex, runId, time.GetUtcNow().ToUnixTimeMilliseconds());
        return last;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> RunsAsync() =>
        [.. (await redis.GetDatabase().SortedSetRangeByRankAsync(RunIndex, order: Order.Descending)).Select(r => r.ToString())];

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> NodesAsync(string runId) =>
        [.. (await redis.GetDatabase().SetMembersAsync(NodesKey(runId))).Select(n => n.ToString()).Order(StringComparer.Ordinal)];

    /// <inheritdoc />
    public async Task<IReadOnlyList<RunEvent>> ReadAsync(string runId, string nodeId, long after = 0, int max = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var database = redis.GetDatabase();
        var read = new List<RunEvent>();
        var from = after;
        while (read.Count < max)
        {
            var entries = await database.StreamRangeAsync(StreamKey(runId, nodeId), $"{from + 1}-0", "+", Math.Min(Page, max - read.Count));
            foreach (var entry in entries)
            {
                // Field c: the compact form; e: Orleans' binary format, written by earlier versions.
                var compact = entry["c"];
                read.Add(compact.IsNull ? serializer.Deserialize<RunEvent>((byte[])entry["e"]!)! : EventCodec.Decode((byte[])compact!, serializer));
                from = Sequence(entry.Id);
            }

            if (entries.Length < Page)
            {
                break;
            }
        }

        return read;
    }

    /// <inheritdoc />
    public async Task<int> PruneAsync()
    {
        // The streams expire by themselves; the index forgets runs whose streams are gone.
        var cutoff = (time.GetUtcNow() - retention).ToUnixTimeMilliseconds();
        return (int)await redis.GetDatabase().SortedSetRemoveRangeByScoreAsync(RunIndex, double.NegativeInfinity, cutoff);
    }

    // The braces make a run's keys one hash slot, so the append script may touch them together on a Redis cluster.
    private string StreamKey(string runId, string nodeId) => $"{_prefix}{{{runId}}}:{nodeId}";

    private string NodesKey(string runId) => $"{_prefix}{{{runId}}}:nodes";

    private static long Sequence(RedisValue id) => long.Parse(id.ToString().AsSpan(0, id.ToString().IndexOf('-', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture);
}
