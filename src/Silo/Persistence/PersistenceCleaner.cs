using Coordinator.Client.Hosting;
using StackExchange.Redis;

namespace Coordinator.Silo.Persistence;

/// <summary>Finds and deletes everything a Coordinator service keeps in Redis: grain state, reminders, membership, the signature and the run events.</summary>
internal static class PersistenceCleaner
{
    /// <summary>Key patterns of a service: Orleans keeps state, reminders and membership under "{ServiceId}/"; the cluster's signature and run events are under "coordinator/{ClusterId}/".</summary>
    public static IReadOnlyList<RedisValue> PatternsFor(CoordinatorClusterOptions cluster) =>
        [$"{Escape(cluster.ServiceId)}/*", $"coordinator/{Escape(cluster.ClusterId)}/*"];

    public static async Task<IReadOnlyList<RedisKey>> FindKeysAsync(IConnectionMultiplexer redis, CoordinatorClusterOptions cluster)
    {
        var db = redis.GetDatabase();
        var keys = new HashSet<RedisKey>();
        foreach (var server in redis.GetServers().Where(s => !s.IsReplica))
        {
            foreach (var pattern in PatternsFor(cluster))
            {
                await foreach (var key in server.KeysAsync(db.Database, pattern, pageSize: 500))
                {
                    keys.Add(key);
                }
            }
        }

        return [.. keys.OrderBy(k => k.ToString(), StringComparer.Ordinal)];
    }

    public static async Task<long> DeleteAsync(IConnectionMultiplexer redis, IReadOnlyList<RedisKey> keys)
    {
        var db = redis.GetDatabase();
        long deleted = 0;
        foreach (var chunk in keys.Chunk(500))
        {
            deleted += await db.KeyDeleteAsync(chunk);
        }

        return deleted;
    }

    /// <summary>Escapes Redis glob characters so an id matches only itself.</summary>
    private static string Escape(string value) =>
        string.Concat(value.Select(c => c is '*' or '?' or '[' or ']' or '\\' ? $"\\{c}" : c.ToString()));
}
