using Coordinator.Contracts.Configuration;
using Coordinator.Contracts.Streams;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Coordinator.Grains.Hosting;

/// <summary>Adds the Coordinator grains and their backend to a silo.</summary>
public static class CoordinatorSiloBuilderExtensions
{
    /// <summary>
    /// Registers the grains' options (bound from <paramref name="configuration"/>), their clock, and trace context
    /// propagation on every grain call.
    /// </summary>
    public static ISiloBuilder AddCoordinatorGrains(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        silo.Services.AddOptions<CoordinatorSessionOptions>().Bind(configuration.GetSection(CoordinatorSessionOptions.SectionName));
        silo.Services.AddOptions<ReplicaOptions>().Bind(configuration.GetSection(ReplicaOptions.SectionName));
        silo.Services.TryAddKeyedSingleton(CoordinatorTime.ServiceKey, TimeProvider.System);
        silo.AddActivityPropagation();
        return silo;
    }

    /// <summary>
    /// Grain storage, stream pub-sub storage, reminders and the event stream provider on the configured backend:
    /// memory for the embedded default, Redis for a cluster. Clustering is the host's choice.
    /// </summary>
    public static ISiloBuilder UseCoordinatorPersistence(this ISiloBuilder silo, PersistenceOptions persistence)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(persistence);
        var serializer = new JsonGrainStateSerializer();
        if (persistence.EffectiveProvider == PersistenceProvider.Redis)
        {
            var redis = ConfigurationOptions.Parse(persistence.RedisConnectionString!);
            silo.AddRedisGrainStorage(PersistenceSchema.StorageName, o =>
            {
                o.ConfigurationOptions = redis;
                o.GrainStorageSerializer = serializer;
            });
            // Pub-sub state holds Orleans' own types: keep Orleans' default serializer for it.
            silo.AddRedisGrainStorage(StreamProviders.PubSubStore, o => o.ConfigurationOptions = redis);
            silo.UseRedisReminderService(o => o.ConfigurationOptions = redis);
        }
        else
        {
            silo.AddMemoryGrainStorage(PersistenceSchema.StorageName, o => o.GrainStorageSerializer = serializer);
            silo.AddMemoryGrainStorage(StreamProviders.PubSubStore);
            silo.UseInMemoryReminderService();
        }

        silo.AddMemoryStreams(StreamProviders.Events);
        return silo;
    }
}
