using System.Diagnostics;
using System.Net;
using Coordinator.Contracts.Events;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Hosting;
using Coordinator.Hosting.Configuration;
using Coordinator.ServiceDefaults.Telemetry;
using Coordinator.TrainerHost.Configuration;
using Coordinator.TrainerHost.Trainers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Coordinator.TrainerHost.Hosting;

/// <summary>Composes a trainer host: a silo named after its replica that hosts only the trainer grain.</summary>
internal static partial class TrainerHostBuilder
{
    private static readonly HashSet<string> HostedAssemblies = new(StringComparer.Ordinal)
    {
        typeof(TrainerGrain).Assembly.GetName().Name!, "Orleans.Runtime", "Orleans.Reminders",
    };

    public static IHost Build(TrainerSettings settings, IConfiguration configuration)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "Coordinator.TrainerHost" });
        builder.Configuration.AddConfiguration(configuration);
        builder.AddCoordinatorLogging(configuration);
        builder.AddCoordinatorServiceDefaults(settings.Telemetry, "coordinator-trainer", settings.Trainer.ReplicaId);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<TrainerRuntime>();
        builder.Services.AddSingleton<OperationSequencer>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.UseOrleans(silo =>
        {
            silo.UseCoordinatorClustering(settings.Cluster, settings.Persistence, gatewayPort: 0, IPEndPoint.Parse(settings.Trainer.PrimarySiloEndpoint));
            silo.Configure<SiloOptions>(o => o.SiloName = settings.Trainer.ReplicaId);
            silo.UseCoordinatorReminders(settings.Persistence);
            silo.AddTrainerPlacement();
            silo.AddCoordinatorErrors();
            silo.AddCoordinatorHandlerMetrics();
            silo.AddCoordinatorTracing();

            // This silo hosts the trainer grain and Orleans' runtime grains only: no coordinator grain, no dashboard grain,
            // and no storage or stream grain, which in the embedded default hold the cluster's in-memory state and must
            // not die with a trainer process. (The reminder table grain stays resolvable, as the reminder service needs
            // it; it is activated by the first silo at start-up and kept alive there.)
            silo.Services.PostConfigure<GrainTypeOptions>(o => o.Classes.RemoveWhere(t => !HostedAssemblies.Contains(t.Assembly.GetName().Name!)));
        });

        // Registered after the silo, so they start once the silo has joined and stop before the silo leaves.
        builder.Services.AddCoordinatorEvents(settings.Events, settings.Cluster.ClusterId, settings.Trainer.ReplicaId, NodeRole.Trainer, Redaction.ConfigHash(settings));
        builder.Services.AddHostedService<ReplicaRegistration>();
        return builder.Build();
    }

    public static async Task StartAsync(IHost host, TrainerSettings settings, long startTimestamp)
    {
        await host.StartAsync();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Coordinator.TrainerHost");
        LogStarted(logger, settings.Trainer.ReplicaId, (long)Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, $"{settings.Cluster.AdvertisedAddress}:{settings.Cluster.SiloPort}", settings.Cluster.ClusterId);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Trainer host {ReplicaId} started in {ElapsedMs} ms: silo {SiloEndpoint} in cluster {ClusterId}. Ctrl-C stops it.")]
    private static partial void LogStarted(ILogger logger, string replicaId, long elapsedMs, string siloEndpoint, string clusterId);
}
