using System.Diagnostics;
using System.Net;
using Coordinator.Grains.Hosting;
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
    public static IHost Build(TrainerSettings settings, IConfiguration configuration)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "Coordinator.TrainerHost" });
        builder.Configuration.AddConfiguration(configuration);
        builder.AddCoordinatorLogging(configuration);
        builder.AddCoordinatorServiceDefaults(settings.Telemetry, "coordinator-trainer", settings.Trainer.ReplicaId);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<TrainerRuntime>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.UseOrleans(silo =>
        {
            silo.UseCoordinatorClustering(settings.Cluster, settings.Persistence, gatewayPort: 0, IPEndPoint.Parse(settings.Trainer.PrimarySiloEndpoint));
            silo.Configure<SiloOptions>(o => o.SiloName = settings.Trainer.ReplicaId);
            silo.UseCoordinatorPersistence(settings.Persistence);
            silo.AddTrainerPlacement();
            silo.AddActivityPropagation();

            // The coordinator grains' assembly is referenced for shared silo wiring only: this silo hosts none of them,
            // so they are never placed on a process that exists to train.
            silo.Services.PostConfigure<GrainTypeOptions>(o => o.Classes.RemoveWhere(t => t.Assembly == typeof(CoordinatorSiloBuilderExtensions).Assembly));
        });

        // Registered after the silo, so it starts once the silo has joined and stops before the silo leaves.
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
