using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Replicas;

/// <summary>Replica health (section <c>Replicas</c>).</summary>
public sealed class ReplicaOptions : ISectionOptions<ReplicaOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Replicas";

    /// <inheritdoc />
    public static IValidateOptions<ReplicaOptions> Validator { get; } = new ReplicaOptionsValidator();

    /// <summary>A replica without a heartbeat for this long is declared dead and its adapters are released.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a replica grain checks its heartbeat while active.</summary>
    public TimeSpan LivenessCheckPeriod { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Validates <see cref="ReplicaOptions"/>.</summary>
public sealed class ReplicaOptionsValidator : IValidateOptions<ReplicaOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ReplicaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = ReplicaOptions.SectionName;
        var errors = new List<string>();
        OptionRules.Period(errors, $"{section}:HeartbeatTimeout", options.HeartbeatTimeout);
        OptionRules.Period(errors, $"{section}:LivenessCheckPeriod", options.LivenessCheckPeriod);
        if (options.LivenessCheckPeriod > options.HeartbeatTimeout)
        {
            errors.Add($"{section}:LivenessCheckPeriod: must not exceed {section}:HeartbeatTimeout ({options.HeartbeatTimeout}).");
        }

        return OptionRules.Result(errors);
    }
}
