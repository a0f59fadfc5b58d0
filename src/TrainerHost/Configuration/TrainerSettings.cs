using Coordinator.Grains.Diagnostics;
using Coordinator.Client.Hosting;
using Coordinator.Events.Hosting;
using Coordinator.Hosting.Configuration;
using Coordinator.ServiceDefaults.Hosting;
using Coordinator.ServiceDefaults.Telemetry;
using Microsoft.Extensions.Configuration;

namespace Coordinator.TrainerHost.Configuration;

/// <summary>Everything a trainer host is configured with, one property per configuration section.</summary>
internal sealed class TrainerSettings : ISettingsRules
{
    /// <summary>Cluster identity; the trainer's own silo port defaults to 11112 (the coordinator silo has 11111). No gateway is opened.</summary>
    public CoordinatorClusterOptions Cluster { get; init; } = new() { SiloPort = 11112 };
    public PersistenceOptions Persistence { get; init; } = new();
    public TrainerOptions Trainer { get; init; } = new();
    public TelemetryOptions Telemetry { get; init; } = new();
    public DiagnosticsOptions Diagnostics { get; init; } = new();
    public EventsOptions Events { get; init; } = new();

    /// <summary>Health and metrics; a free port by default, since one machine often runs several trainer hosts.</summary>
    public HttpEndpointOptions Http { get; init; } = new() { Port = 0 };

    public static (TrainerSettings Settings, IConfigurationRoot Configuration) Load(
        string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null)
    {
        var configuration = ConfigurationLoader.Load(configFile, overrides, environment);
        var settings = SettingsBinder.Bind<TrainerSettings>(configuration);
        settings.Persistence.Provider = settings.Persistence.EffectiveProvider;
        if (settings.Trainer.ReplicaId.Length == 0)
        {
            settings.Trainer.ReplicaId = $"trainer-{Environment.MachineName.ToLowerInvariant()}-{settings.Cluster.SiloPort}";
        }

        return (settings, configuration);
    }

    /// <summary>Events are exported only with the logs.</summary>
    public IEnumerable<string> Problems()
    {
        if (Events.ExportProblem(Telemetry.ExportsLogs()) is { } export)
        {
            yield return export;
        }
    }
}
