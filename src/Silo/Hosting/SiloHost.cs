using System.Diagnostics;
using System.Net;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Events;
using Coordinator.Events.Hosting;
using Coordinator.Hosting.Configuration;
using Coordinator.Grains.Hosting;
using Coordinator.ServiceDefaults.Telemetry;
using Coordinator.Silo.Configuration;
using Coordinator.Silo.Timeline;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Configuration;
using Orleans.Dashboard;
using StackExchange.Redis;

namespace Coordinator.Silo.Hosting;

/// <summary>Composes a silo process: Orleans, the grains and their backend, dashboard, health and metrics.</summary>
internal static partial class SiloHost
{
    /// <summary>
    /// Builds (does not start) the silo's web application. <paramref name="redis"/> is the already-connected
    /// multiplexer when persistence is Redis (used for health), otherwise null.
    /// </summary>
    public static WebApplication Build(SiloSettings settings, IConfiguration configuration, IConnectionMultiplexer? redis, Action<ISiloBuilder>? configureSilo = null)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Coordinator.Silo" });
        builder.Configuration.AddConfiguration(configuration);
        builder.AddCoordinatorLogging(configuration);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Parse(settings.Http.BindAddress), settings.Http.Port));
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(settings);

        var nodeId = $"silo-{settings.Cluster.AdvertisedAddress}:{settings.Cluster.SiloPort}";
        builder.AddCoordinatorServiceDefaults(settings.Telemetry, "coordinator-silo", nodeId);
        var health = builder.Services.AddHealthChecks().AddCheck<SiloActiveHealthCheck>("silo", tags: [ServiceDefaultsExtensions.ReadyTag]);
        if (redis is not null)
        {
            builder.Services.AddSingleton(redis);
            health.AddCheck<RedisHealthCheck>("storage", tags: [ServiceDefaultsExtensions.ReadyTag]);
        }
        else
        {
            health.AddCheck("storage", () => HealthCheckResult.Healthy("memory (embedded; state is lost when the silo stops)"), [ServiceDefaultsExtensions.ReadyTag]);
        }

        builder.UseOrleans(silo =>
        {
            silo.UseCoordinatorClustering(settings.Cluster, settings.Persistence, settings.Cluster.GatewayPort);
            silo.AddCoordinatorGrains(configuration);
            silo.UseCoordinatorPersistence(settings.Persistence);
            if (settings.Dashboard.Enabled)
            {
                silo.AddDashboard();
            }

            configureSilo?.Invoke(silo);
        });
        builder.Services.AddCoordinatorEvents(settings.Events, settings.Cluster.ClusterId, nodeId, NodeRole.Coordinator, Redaction.ConfigHash(settings));
        builder.Services.AddCoordinatorEventStore(settings.Events, redis, settings.Cluster.ClusterId);

        var app = builder.Build();
        app.UseRouting();
        app.MapCoordinatorDefaultEndpoints(settings.Telemetry);
        if (settings.Dashboard.Enabled)
        {
            app.MapOrleansDashboard(routePrefix: "/dashboard");
        }

        app.MapCoordinatorTimeline();
        app.MapGet("/", () => Results.Redirect(settings.Dashboard.Enabled ? "/dashboard/" : "/health"));
        return app;
    }

    /// <summary>Starts the silo and logs one line with every address it serves.</summary>
    public static async Task StartAsync(WebApplication app, SiloSettings settings, long startTimestamp)
    {
        await app.StartAsync();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Coordinator.Silo");
        var http = $"http://{settings.Http.BindAddress}:{settings.Http.Port}";
        LogStarted(
            logger,
            (long)Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds,
            settings.Cluster.ClusterId,
            settings.Cluster.ServiceId,
            $"{settings.Cluster.AdvertisedAddress}:{settings.Cluster.SiloPort}",
            $"{settings.Cluster.AdvertisedAddress}:{settings.Cluster.GatewayPort}",
            settings.Persistence.EffectiveProvider,
            settings.Dashboard.Enabled ? $"{http}/dashboard" : "(disabled)",
            $"{http}/health",
            settings.Telemetry.PrometheusEnabled ? $"{http}/metrics" : "(disabled)");
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Coordinator silo started in {ElapsedMs} ms: cluster {ClusterId} (service {ServiceId}), silo {SiloEndpoint}, gateway {GatewayEndpoint}, persistence {Provider}; dashboard {Dashboard}, health {Health}, metrics {Metrics}. Ctrl-C stops it.")]
    private static partial void LogStarted(ILogger logger, long elapsedMs, string clusterId, string serviceId, string siloEndpoint, string gatewayEndpoint, PersistenceProvider provider, string dashboard, string health, string metrics);
}

/// <summary>Ready when this silo is an active member of its cluster.</summary>
internal sealed class SiloActiveHealthCheck(ISiloStatusOracle oracle) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(oracle.CurrentStatus == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {oracle.SiloAddress} is active")
            : HealthCheckResult.Unhealthy($"silo {oracle.SiloAddress} is {oracle.CurrentStatus}"));
}

/// <summary>Ready when the Redis backend answers a PING.</summary>
internal sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"redis answered in {latency.TotalMilliseconds:F1} ms");
        }
        catch (RedisException ex)
        {
            return HealthCheckResult.Unhealthy("redis did not answer", ex);
        }
    }
}
