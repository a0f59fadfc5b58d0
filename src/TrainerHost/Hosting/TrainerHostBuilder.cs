using System.Diagnostics;
using System.Net;
using Coordinator.Contracts.Events;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Hosting;
using Coordinator.Hosting.Configuration;
using Coordinator.ServiceDefaults.Telemetry;
using Coordinator.TrainerHost.Configuration;
using Coordinator.TrainerHost.Diagnostics.Metrics;
using Coordinator.TrainerHost.Trainers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Coordinator.TrainerHost.Hosting;

/// <summary>
/// Composes a trainer host: a silo named after its replica that hosts only the trainer grain, and an HTTP endpoint with
/// health (ready once the replica is registered and heartbeating) and Prometheus metrics.
/// </summary>
internal static partial class TrainerHostBuilder
{
    private static readonly HashSet<string> HostedAssemblies = new(StringComparer.Ordinal)
    {
        typeof(TrainerGrain).Assembly.GetName().Name!, "Orleans.Runtime", "Orleans.Reminders",
    };

    public static WebApplication Build(TrainerSettings settings, IConfiguration configuration)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Coordinator.TrainerHost" });
        builder.Configuration.AddConfiguration(configuration);
        builder.AddCoordinatorLogging(configuration);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Parse(settings.Http.BindAddress), settings.Http.Port));
        builder.Services.AddRoutingCore();
        builder.AddCoordinatorServiceDefaults(settings.Telemetry, "coordinator-trainer", settings.Trainer.ReplicaId);
        builder.Services.AddHealthChecks().AddCheck<ReplicaHealthCheck>("replica", tags: [ServiceDefaultsExtensions.ReadyTag]);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<TrainerRuntime>();

        // Registered before the silo, so the engine (and the torch natives) is loaded before the silo joins the cluster.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainerRuntime>());
        builder.Services.AddSingleton<OperationSequencer>();
        builder.Services.AddSingleton<TrainerInstruments>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.UseOrleans(silo =>
        {
            silo.UseCoordinatorClustering(settings.Cluster, settings.Persistence, gatewayPort: 0, IPEndPoint.Parse(settings.Trainer.PrimarySiloEndpoint));
            silo.Configure<SiloOptions>(o => o.SiloName = settings.Trainer.ReplicaId);
            silo.UseCoordinatorReminders(settings.Persistence);
            silo.AddTrainerPlacement();
            silo.AddCoordinatorErrors();
            silo.AddCoordinatorTracing();
            silo.AddCoordinatorDiagnostics(configuration);

            // This silo hosts the trainer grain and Orleans' runtime grains only: no coordinator grain, no dashboard grain,
            // and no storage or stream grain, which in the embedded default hold the cluster's in-memory state and must
            // not die with a trainer process. (The reminder table grain stays resolvable, as the reminder service needs
            // it; it is activated by the first silo at start-up and kept alive there.)
            silo.Services.PostConfigure<GrainTypeOptions>(o => o.Classes.RemoveWhere(t => !HostedAssemblies.Contains(t.Assembly.GetName().Name!)));
        });

        // Registered after the silo, so they start once the silo has joined and stop before the silo leaves.
        builder.Services.AddCoordinatorEvents(settings.Events, settings.Cluster.ClusterId, settings.Trainer.ReplicaId, NodeRole.Trainer, Redaction.ConfigHash(settings));
        builder.Services.AddSingleton<ReplicaRegistration>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ReplicaRegistration>());
        var app = builder.Build();
        app.UseRouting();
        app.MapCoordinatorDefaultEndpoints(settings.Telemetry);
        return app;
    }

    public static async Task StartAsync(WebApplication app, TrainerSettings settings, long startTimestamp)
    {
        await app.StartAsync();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Coordinator.TrainerHost");
        var http = app.Urls.FirstOrDefault() ?? $"http://{settings.Http.BindAddress}:{settings.Http.Port}";
        LogStarted(logger, settings.Trainer.ReplicaId, (long)Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, $"{settings.Cluster.AdvertisedAddress}:{settings.Cluster.SiloPort}", settings.Cluster.ClusterId,
            $"{http}/health", settings.Telemetry.PrometheusEnabled ? $"{http}/metrics" : "(disabled)");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Trainer host {ReplicaId} started in {ElapsedMs} ms: silo {SiloEndpoint} in cluster {ClusterId}; health {Health}, metrics {Metrics}. Ctrl-C stops it.")]
    private static partial void LogStarted(ILogger logger, string replicaId, long elapsedMs, string siloEndpoint, string clusterId, string health, string metrics);
}

/// <summary>Ready while the replica is registered with the coordinator and its last heartbeat was answered.</summary>
internal sealed class ReplicaHealthCheck(ReplicaRegistration registration) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(registration.Problem is { } problem
            ? HealthCheckResult.Unhealthy(problem)
            : HealthCheckResult.Healthy($"replica {registration.ReplicaId} registered, heartbeat answered"));
}
