using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Coordinator.Client.Hosting;

/// <summary>Connects a process to a Coordinator cluster as an Orleans client.</summary>
public static class CoordinatorClientHostingExtensions
{
    /// <summary>
    /// Adds an Orleans client for the cluster described by <paramref name="cluster"/>: through Redis membership when
    /// <paramref name="persistence"/> is Redis, otherwise to the embedded silo's gateway on this machine. Trace context is
    /// propagated and, unless <see cref="CoordinatorClientOptions.StampCalls"/> is off, the moment of sending stamped (<see cref="CallStampFilter"/>) on every call, and <see cref="CoordinatorClient"/> is registered with <paramref name="client"/>'s
    /// retry settings (its <see cref="CoordinatorClientOptions.ResponseTimeout"/> becomes the Orleans client's).
    /// </summary>
    public static IHostApplicationBuilder AddCoordinatorClusterClient(
        this IHostApplicationBuilder builder, CoordinatorClusterOptions cluster, PersistenceOptions persistence, CoordinatorClientOptions? client = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(persistence);
        var options = client ?? new CoordinatorClientOptions();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = options.ResponseTimeout);
            if (persistence.EffectiveProvider == PersistenceProvider.Redis)
            {
                var redis = persistence.Redis();
                client.UseRedisClustering(o => o.ConfigurationOptions = redis);
            }
            else
            {
                client.UseStaticClustering(new IPEndPoint(IPAddress.Parse(cluster.AdvertisedAddress), cluster.GatewayPort));
            }

            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            client.AddActivityPropagation();
            if (options.StampCalls)
            {
                client.AddOutgoingGrainCallFilter<CallStampFilter>();
            }
        });
        builder.Services.AddCoordinatorClient(options);
        return builder;
    }
}
