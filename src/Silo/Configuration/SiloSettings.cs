using Coordinator.Grains.Diagnostics;
using Coordinator.Client.Hosting;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Models;
using Coordinator.Grains.Replicas;
using Coordinator.Hosting.Configuration;
using Coordinator.ServiceDefaults.Hosting;
using Coordinator.ServiceDefaults.Telemetry;
using SessionOptions = Coordinator.Grains.Sessions.SessionOptions;

namespace Coordinator.Silo.Configuration;

/// <summary>Everything a silo is configured with, one property per configuration section.</summary>
internal sealed class SiloSettings : ISettingsRules
{
    public CoordinatorClusterOptions Cluster { get; init; } = new();
    public PersistenceOptions Persistence { get; init; } = new();
    public HttpEndpointOptions Http { get; init; } = new();
    public DashboardOptions Dashboard { get; init; } = new();
    public SessionOptions Sessions { get; init; } = new();
    public ReplicaOptions Replicas { get; init; } = new();
    public OperationOptions Operations { get; init; } = new();
    public TelemetryOptions Telemetry { get; init; } = new();
    public DiagnosticsOptions Diagnostics { get; init; } = new();
    public EventsOptions Events { get; init; } = new();

    /// <summary>Loads, binds and validates; throws <see cref="ConfigurationException"/> naming every offending key.</summary>
    public static (SiloSettings Settings, Microsoft.Extensions.Configuration.IConfigurationRoot Configuration) Load(
        string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null)
    {
        var configuration = ConfigurationLoader.Load(configFile, overrides, environment);
        var settings = SettingsBinder.Bind<SiloSettings>(configuration);
        settings.Persistence.Provider = settings.Persistence.EffectiveProvider;
        return (settings, configuration);
    }

    /// <summary>The silo, gateway and HTTP ports of one process must differ; events are exported only with the logs.</summary>
    public IEnumerable<string> Problems()
    {
        if (Http.Port != 0 && (Http.Port == Cluster.SiloPort || Http.Port == Cluster.GatewayPort))
        {
            yield return $"{HttpEndpointOptions.SectionName}:Port: {Http.Port} is already used as the silo or gateway port.";
        }

        if (Events.ExportProblem(Telemetry.ExportsLogs()) is { } export)
        {
            yield return export;
        }
    }
}
