using Coordinator.Client.Configuration;
using Coordinator.Client.Hosting;
using Coordinator.Hosting.Configuration;
using StackExchange.Redis;

namespace Coordinator.Silo.Persistence;

/// <summary>Opens the silo's own Redis connection (health checks, drift check, clear-persistence).</summary>
internal static class RedisBackend
{
    /// <summary>Connects, or throws <see cref="InvalidOperationException"/> naming the (redacted) endpoint.</summary>
    public static async Task<IConnectionMultiplexer> ConnectAsync(PersistenceOptions options)
    {
        var config = options.Redis();
        config.AbortOnConnectFail = true;
        config.ConnectTimeout = Math.Min(config.ConnectTimeout, 5000);
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(config);
        }
        catch (RedisConnectionException ex)
        {
            throw new InvalidOperationException(
                $"Cannot reach Redis at {Secrets.RedactConnectionString(options.RedisConnectionString!)} ({PersistenceOptions.SectionName}:RedisConnectionString): {ex.Message}", ex);
        }
    }
}
