using Coordinator.Contracts.Events;
using Coordinator.Events.Spool;
using Orleans.Serialization;
using StackExchange.Redis;

namespace Coordinator.Events.Store;

/// <summary>
/// The cluster's event store: one Redis stream per run and node, <c>coordinator/{cluster}/events/{run}:{node}</c> (beside
/// the cluster's other keys, so <c>clear-persistence</c> takes them too). Each entry holds a block of the node's events
/// (<see cref="EventBlock"/>, field <c>b</c>) and its id is the last sequence in it (<c>{sequence}-1</c>), so Redis
/// itself orders them and refuses a repeat. Entries of earlier versions hold one event each, in its compact form
/// (<see cref="EventCodec"/>, field <c>c</c>) or Orleans' binary format (field <c>e</c>), and are still read. An append
/// is one script run: it passes over blocks the stream holds, adds the rest and renews the run's expiry (the retention).
/// The run's node set shares the run's hash slot; the run index is a sorted set by last append.
/// </summary>
public sealed class RedisEventStore(IConnectionMultiplexer redis, Serializer serializer, TimeProvider time, TimeSpan retention, string clusterId) : IEventStore
{
    // Stream entries per read: blocks of up to a thousand events each, or single events in entries of earlier versions.
    private const int Page = 256;

    // An append whose blocks straddle what the stream holds (another append of the node's events came first) is made again
    // from the stream's last sequence, at most this many times; then it answers what the stream holds.
    private const int Attempts = 3;
    private readonly string _prefix = $"coordinator/{clusterId}/events/";

    private string RunIndex => _prefix + "runs";

    // KEYS: stream, node set. ARGV: retention ms, node id, then first sequence, last sequence and block of each block.
    // A block the stream holds is passed over; one that straddles its last sequence ends the append.
    private const string AppendScript = """
        local last = 0
        local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
        if #top > 0 then last = tonumber(string.match(top[1][1], '^(%d+)')) end
        for i = 3, #ARGV, 3 do
          local first = tonumber(ARGV[i])
          local through = tonumber(ARGV[i + 1])
          if first > last then
            redis.call('XADD', KEYS[1], ARGV[i + 1] .. '-1', 'b', ARGV[i + 2])
            last = through
          elseif through > last then
            break
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
        var last = 0L;
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            // The first attempt sends every event: a fresh batch (the usual case) is stored in one round trip.
            var above = IEventStore.Above(events, last);
            var arguments = new List<RedisValue> { (long)retention.TotalMilliseconds, nodeId };
            foreach (var (first, through, block) in EventBlock.Encode(above, serializer))
            {
                arguments.AddRange([first, through, block]);
            }

            last = (long)(await database.ScriptEvaluateAsync(AppendScript, [StreamKey(runId, nodeId), NodesKey(runId)], [.. arguments]));
            if (above.Count == 0 || last >= above[^1].Stamp.Sequence)
            {
                break;
            }
        }

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
        var pool = new TextPool();
        while (read.Count < max)
        {
            var entries = await database.StreamRangeAsync(StreamKey(runId, nodeId), $"{from + 1}-0", "+", Page);
            foreach (var entry in entries)
            {
                // Field b: a block; c: one event in the compact form; e: in Orleans' binary format (c and e by earlier versions).
                var (block, compact) = (entry["b"], entry["c"]);
                IEnumerable<RunEvent> held = !block.IsNull ? EventBlock.Decode((byte[])block!, serializer, pool)
                    : !compact.IsNull ? [EventCodec.Decode((byte[])compact!, serializer, pool)]
                    : [serializer.Deserialize<RunEvent>((byte[])entry["e"]!)!];
                read.AddRange(held.Where(e => e.Stamp.Sequence > after).Take(max - read.Count));
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
