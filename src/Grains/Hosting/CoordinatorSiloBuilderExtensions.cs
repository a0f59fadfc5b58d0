using Coordinator.Client.Configuration;
using Coordinator.Client.Hosting;
using Coordinator.Grains.Models;
using Coordinator.Grains.Sessions;
using System.Net;
using Coordinator.Contracts.Trainers;
using Coordinator.Events.Emitting;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Placement;
using Coordinator.Grains.Diagnostics;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Coordinator.Grains.Replicas;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Coordinator.Grains.Hosting;

/// <summary>Adds the Coordinator grains and their backend to a silo.</summary>
public static class CoordinatorSiloBuilderExtensions
{
    /// <summary>
    /// Registers the grains' options (bound from <paramref name="configuration"/> and validated when the silo starts,
    /// with the same rules as the executables' <c>check-config</c>), their clock, trace context propagation on
    /// every grain call, and the live feed the event recorders publish on.
    /// </summary>
    public static ISiloBuilder AddCoordinatorGrains(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        silo.Services.AddSectionOptions<SessionOptions>(configuration);
        silo.Services.AddSectionOptions<ReplicaOptions>(configuration);
        silo.Services.AddSectionOptions<OperationOptions>(configuration);
        silo.Services.TryAddKeyedSingleton(CoordinatorTime.ServiceKey, TimeProvider.System);

        // The host records run events with AddCoordinatorEvents; a host that does not (a test cluster) drops them.
        silo.Services.TryAddSingleton<IRunEvents>(NoRunEvents.Instance);
        silo.AddCoordinatorEventFeed();
        silo.Services.AddHostedService<TrainerHostWatcher>();
        silo.AddTrainerPlacement();
        silo.AddCoordinatorErrors();
        silo.AddCoordinatorTracing();
        silo.AddCoordinatorDiagnostics(configuration);
        return silo;
    }

    /// <summary>
    /// Measures every grain method this silo handles (<see cref="HandlerMetricsFilter"/>: requests, duration, in-flight
    /// calls, errors by type, cancellations, network transit, queue wait and the handler's phases, on the
    /// <c>Coordinator</c> meter), stamps and times the calls it sends (<see cref="AwaitedCallFilter"/>), and, as section
    /// <c>Diagnostics</c> of <paramref name="configuration"/> says (<see cref="DiagnosticsOptions"/>), runs the
    /// thread-pool canary and writes the slow-call file. Also the node's network and disk as metrics (<see cref="NodeInstruments"/>). Add it after <see cref="AddCoordinatorErrors"/> and
    /// <see cref="AddCoordinatorTracing"/>: it then sees a failure's own type (a cancellation, a timeout) before it
    /// becomes an error code, and the call's span. Every silo needs it, trainer hosts included.
    /// </summary>
    public static ISiloBuilder AddCoordinatorDiagnostics(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        silo.Services.AddSectionOptions<DiagnosticsOptions>(configuration);

        // Read now, to decide what to register; the same values are validated when the silo starts.
        var options = configuration.GetSection(DiagnosticsOptions.SectionName).Get<DiagnosticsOptions>() ?? new DiagnosticsOptions();
        if (!string.IsNullOrWhiteSpace(options.SlowCallDirectory))
        {
            silo.Services.AddSingleton(sp => new SlowCallLog(
                options.SlowCallDirectory, sp.GetRequiredService<ILocalSiloDetails>().Name, options.SlowCallThreshold, options.SlowestPerMinute,
                options.SlowCallFileBytes, sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<SlowCallLog>>()));
            silo.Services.AddHostedService(sp => sp.GetRequiredService<SlowCallLog>());
        }

        if (options.SchedulerCanaryPeriod > TimeSpan.Zero)
        {
            silo.Services.AddHostedService(sp => new SchedulerCanary(
                options.SchedulerCanaryPeriod, options.StallThreshold, sp.GetService<SlowCallLog>()));
        }

        NodeInstruments.Create();
        silo.AddIncomingGrainCallFilter<HandlerMetricsFilter>();
        silo.AddOutgoingGrainCallFilter(new AwaitedCallFilter(options.StampCalls));
        return silo;
    }

    /// <summary>
    /// Trace context on every grain call (Orleans' activity propagation), and each Coordinator grain's span tagged with
    /// the entities it is about (<see cref="CorrelationFilter"/>, registered after Orleans' filter so it runs inside it).
    /// </summary>
    public static ISiloBuilder AddCoordinatorTracing(this ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.AddActivityPropagation();
        silo.AddIncomingGrainCallFilter<CorrelationFilter>();
        return silo;
    }

    /// <summary>
    /// Answers every failure of a Coordinator grain on this silo as a <see cref="Contracts.Errors.CoordinatorException"/>
    /// with a code (see <see cref="ErrorTranslationFilter"/>). Every silo needs it, trainer hosts included.
    /// </summary>
    public static ISiloBuilder AddCoordinatorErrors(this ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.AddIncomingGrainCallFilter<ErrorTranslationFilter>();
        return silo;
    }

    /// <summary>
    /// Lets this silo place trainer grains on the trainer host named by their key. Every silo of the cluster needs it,
    /// coordinator and trainer hosts alike, because placement runs on the silo that makes the first call.
    /// </summary>
    public static ISiloBuilder AddTrainerPlacement(this ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Services.AddPlacementDirector<TrainerPlacementStrategy, TrainerPlacementDirector>();
        return silo;
    }

    /// <summary>
    /// Cluster membership: Redis when persistence is Redis (any number of hosts on any machines), otherwise
    /// development clustering on loopback, where <paramref name="primarySiloEndpoint"/> names the silo holding the
    /// membership table (null: this silo is it). A gateway port of 0 opens no client gateway.
    /// </summary>
    public static ISiloBuilder UseCoordinatorClustering(
        this ISiloBuilder silo, CoordinatorClusterOptions cluster, PersistenceOptions persistence, int gatewayPort, IPEndPoint? primarySiloEndpoint = null)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(persistence);
        if (persistence.EffectiveProvider == PersistenceProvider.Redis)
        {
            var redis = persistence.Redis();
            silo.UseRedisClustering(o => o.ConfigurationOptions = redis);
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            silo.ConfigureEndpoints(IPAddress.Parse(cluster.AdvertisedAddress), cluster.SiloPort, gatewayPort);
        }
        else
        {
            silo.UseLocalhostClustering(cluster.SiloPort, gatewayPort, primarySiloEndpoint, cluster.ServiceId, cluster.ClusterId);
        }

        // Failure detection, the same on every silo: a killed silo is declared dead within about ProbeTimeout x
        // MissedProbesLimit, after which its models reactivate elsewhere and take up their logs.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = cluster.ProbeTimeout;
            o.NumMissedProbesLimit = cluster.MissedProbesLimit;
        });

        // The directory's lease on a dead silo's grains runs RangeLeaseDuration from the estimated failure, which Orleans
        // puts one detection window (4 x ProbeTimeout x MissedProbesLimit) before the declaration.
        silo.Configure<GrainDirectoryOptions>(o =>
            o.RangeLeaseDuration = (cluster.ProbeTimeout * 4 * cluster.MissedProbesLimit) + cluster.DeadSiloLease);

        // Every silo owns part of the grain directory, trainer hosts included. With Orleans' default directory, the
        // death of a partition's owner deactivates the activations registered there: a killed trainer took model
        // grains (their operations) and the in-memory storage grains (the embedded default's state) with it. The
        // distributed directory instead rebuilds a dead owner's ranges from the surviving silos' activations. It must
        // be the same on every silo of a cluster, so it is chosen here, where coordinator and trainer silos both join.
#pragma warning disable ORLEANSEXP003 // experimental in Orleans 10; the default's behaviour above is the worse risk
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
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
            var redis = persistence.Redis();
            silo.AddRedisGrainStorage(PersistenceSchema.StorageName, o =>
            {
                o.ConfigurationOptions = redis;
                o.GrainStorageSerializer = serializer;
            });
        }
        else
        {
            silo.AddMemoryGrainStorage(PersistenceSchema.StorageName, o => o.GrainStorageSerializer = serializer);
        }

        silo.UseCoordinatorReminders(persistence);
        return silo;
    }

    /// <summary>
    /// The reminder service on the configured backend. Every silo of the cluster needs it, trainer hosts included:
    /// reminders are spread over all silos in a ring, and a silo without the service drops the ones it is handed.
    /// </summary>
    public static ISiloBuilder UseCoordinatorReminders(this ISiloBuilder silo, PersistenceOptions persistence)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(persistence);
        if (persistence.EffectiveProvider == PersistenceProvider.Redis)
        {
            var redis = persistence.Redis();
            silo.UseRedisReminderService(o => o.ConfigurationOptions = redis);
        }
        else
        {
            silo.UseInMemoryReminderService();
        }

        return silo;
    }
}
