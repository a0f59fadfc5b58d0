using Coordinator.Contracts.Events;
using Coordinator.Events.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using StackExchange.Redis;

namespace Coordinator.Events.Store;

/// <summary>Opens an event store outside a silo, for reading (the timeline verbs).</summary>
public static class EventStores
{
    /// <summary>
    /// The store a silo of cluster <paramref name="clusterId"/> with these options writes: Redis streams through <paramref name="redis"/> when given, else the
    /// segment files in <c>Events:StoreDirectory</c>, opened read-only (a running silo may be writing them).
    /// </summary>
    public static IEventStore OpenForReading(EventsOptions options, IConnectionMultiplexer? redis, string clusterId)
    {
        ArgumentNullException.ThrowIfNull(options);
        var serializer = new ServiceCollection()
            .AddSerializer(builder => builder.AddAssembly(typeof(RunEvent).Assembly))
            .BuildServiceProvider()
            .GetRequiredService<Serializer>();
        return redis is not null
            ? new RedisEventStore(redis, serializer, TimeProvider.System, options.Retention, clusterId)
            : new FileEventStore(options.StoreDirectory, serializer, TimeProvider.System, options.Retention, readOnly: true);
    }
}
