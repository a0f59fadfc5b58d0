using Coordinator.Contracts.Configuration;
using Coordinator.ServiceDefaults.Configuration;

namespace Coordinator.Silo.Configuration;

/// <summary>Everything a silo is configured with, one property per configuration section.</summary>
internal sealed class SiloSettings
{
    public CoordinatorClusterOptions Cluster { get; init; } = new();
    public PersistenceOptions Persistence { get; init; } = new();
    public HttpEndpointOptions Http { get; init; } = new();
    public CoordinatorSessionOptions Sessions { get; init; } = new();
    public ReplicaOptions Replicas { get; init; } = new();
    public ModelOperationOptions Models { get; init; } = new();
    public TelemetryOptions Telemetry { get; init; } = new();

    private static readonly IValidator[] Validators =
    [
        new SectionValidator<CoordinatorClusterOptions>(new ClusterOptionsValidator()),
        new SectionValidator<PersistenceOptions>(new PersistenceOptionsValidator()),
        new SectionValidator<HttpEndpointOptions>(new HttpEndpointOptionsValidator()),
        new SectionValidator<CoordinatorSessionOptions>(new CoordinatorSessionOptionsValidator()),
        new SectionValidator<ReplicaOptions>(new ReplicaOptionsValidator()),
        new SectionValidator<ModelOperationOptions>(new ModelOperationOptionsValidator()),
        new SectionValidator<TelemetryOptions>(new TelemetryOptionsValidator()),
        new DistinctPortsValidator(),
    ];

    /// <summary>Loads, binds and validates; throws <see cref="ConfigurationException"/> naming every offending key.</summary>
    public static (SiloSettings Settings, Microsoft.Extensions.Configuration.IConfigurationRoot Configuration) Load(
        string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null)
    {
        var configuration = ConfigurationLoader.Load(configFile, overrides, environment);
        var settings = SettingsBinder.Bind<SiloSettings>(configuration, Validators);
        settings.Persistence.Provider = settings.Persistence.EffectiveProvider;
        return (settings, configuration);
    }

    /// <summary>The silo, gateway and HTTP ports of one process must differ.</summary>
    private sealed class DistinctPortsValidator : IValidator
    {
        public IEnumerable<string> Validate(object settings)
        {
            var s = (SiloSettings)settings;
            if (s.Http.Port == s.Cluster.SiloPort || s.Http.Port == s.Cluster.GatewayPort)
            {
                yield return $"{HttpEndpointOptions.SectionName}:Port: {s.Http.Port} is already used as the silo or gateway port.";
            }
        }
    }
}
