using System.Net;
using Coordinator.Contracts.Configuration;
using Coordinator.Contracts.Errors;
using Coordinator.ServiceDefaults.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.TrainerHost.Configuration;

/// <summary>Everything a trainer host is configured with, one property per configuration section.</summary>
internal sealed class TrainerSettings
{
    /// <summary>Cluster identity; the trainer's own silo port defaults to 11112 (the coordinator silo has 11111). No gateway is opened.</summary>
    public CoordinatorClusterOptions Cluster { get; init; } = new() { SiloPort = 11112 };
    public PersistenceOptions Persistence { get; init; } = new();
    public TrainerOptions Trainer { get; init; } = new();
    public TelemetryOptions Telemetry { get; init; } = new();

    private static readonly IValidator[] Validators =
    [
        new SectionValidator<CoordinatorClusterOptions>(new ClusterOptionsValidator()),
        new SectionValidator<PersistenceOptions>(new PersistenceOptionsValidator()),
        new SectionValidator<TrainerOptions>(new TrainerOptionsValidator()),
        new SectionValidator<TelemetryOptions>(new TelemetryOptionsValidator()),
    ];

    public static (TrainerSettings Settings, IConfigurationRoot Configuration) Load(
        string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null)
    {
        var configuration = ConfigurationLoader.Load(configFile, overrides, environment);
        var settings = SettingsBinder.Bind<TrainerSettings>(configuration, Validators);
        settings.Persistence.Provider = settings.Persistence.EffectiveProvider;
        if (settings.Trainer.ReplicaId.Length == 0)
        {
            settings.Trainer.ReplicaId = $"trainer-{Environment.MachineName.ToLowerInvariant()}-{settings.Cluster.SiloPort}";
        }

        return (settings, configuration);
    }
}

/// <summary>Validates <see cref="TrainerOptions"/>.</summary>
internal sealed class TrainerOptionsValidator : IValidateOptions<TrainerOptions>
{
    public ValidateOptionsResult Validate(string? name, TrainerOptions options)
    {
        const string S = TrainerOptions.SectionName;
        var errors = new List<string>();
        void Check(string key, Action check)
        {
            try
            {
                check();
            }
            catch (CoordinatorException ex)
            {
                errors.Add($"{S}:{key}: {ex.Message}");
            }
        }

        if (options.ReplicaId.Length > 0)
        {
            Check("ReplicaId", () => Require.Id(options.ReplicaId, "ReplicaId"));
        }

        Check("BaseModel", () => Require.Id(options.BaseModel, "BaseModel"));
        errors.AddRange(options.Spec.Problems().Select(p => $"{S}:{p.Field}: {p.Problem}."));

        if (options.BaseModelPath is { Length: > 0 } path && !File.Exists(path))
        {
            errors.Add($"{S}:BaseModelPath: file '{Path.GetFullPath(path)}' does not exist.");
        }

        if (options.LoraCapacity is < 1 or > Contracts.Replicas.RegisterReplicaRequest.MaxLoraCapacity)
        {
            errors.Add($"{S}:LoraCapacity: must be between 1 and {Contracts.Replicas.RegisterReplicaRequest.MaxLoraCapacity} (got {options.LoraCapacity}).");
        }

        if (options.Device is not ("auto" or "cpu" or "cuda"))
        {
            errors.Add($"{S}:Device: must be auto, cpu or cuda (got '{options.Device}').");
        }

        if (options.CpuThreads < 0)
        {
            errors.Add($"{S}:CpuThreads: must be 0 (torch's default) or more (got {options.CpuThreads}).");
        }

        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            errors.Add($"{S}:StateDirectory: must not be empty.");
        }

        if (options.HeartbeatPeriod <= TimeSpan.Zero)
        {
            errors.Add($"{S}:HeartbeatPeriod: must be positive (got {options.HeartbeatPeriod}).");
        }

        if (!IPEndPoint.TryParse(options.PrimarySiloEndpoint, out _))
        {
            errors.Add($"{S}:PrimarySiloEndpoint: '{options.PrimarySiloEndpoint}' is not an address:port.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
