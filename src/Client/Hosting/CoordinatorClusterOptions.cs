using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Client.Hosting;

/// <summary>Cluster identity and a silo's endpoints (section <c>Cluster</c>); clients use the identity and the gateway.</summary>
public sealed class CoordinatorClusterOptions : ISectionOptions<CoordinatorClusterOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Cluster";

    /// <inheritdoc />
    public static IValidateOptions<CoordinatorClusterOptions> Validator { get; } = new CoordinatorClusterOptionsValidator();

    /// <summary>Identifies one deployment of silos that talk to each other; may change across upgrades.</summary>
    public string ClusterId { get; set; } = "coordinator-dev";

    /// <summary>Identifies the service whose state is persisted; must stay the same for state to survive.</summary>
    public string ServiceId { get; set; } = "coordinator";

    /// <summary>Silo-to-silo port.</summary>
    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port.</summary>
    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>IP address other silos and clients use to reach this silo.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// How often silos probe each other, and how long a probe may take (Orleans' ClusterMembershipOptions.ProbeTimeout).
    /// A silo that misses <see cref="MissedProbesLimit"/> in a row is declared dead, and its grains (models among them)
    /// reactivate elsewhere: this pair bounds a failover. Orleans' default is 5 s, for clusters of hundreds of silos.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Missed probes in a row after which a silo is suspected (Orleans' NumMissedProbesLimit; its default is 3).</summary>
    [Range(1, 10)]
    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>
    /// After a silo is declared dead, how long the grain directory still refuses to activate its grains elsewhere: a margin
    /// for a silo wrongly declared dead to notice and stop. Orleans' default margin is about 18 s; a model whose silo died
    /// waits this long before it takes up its operation log on another silo. (Should two activations of a model still
    /// meet, the one that finds the other's write in storage steps down.)
    /// </summary>
    public TimeSpan DeadSiloLease { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Validates <see cref="CoordinatorClusterOptions"/> beyond its annotations.</summary>
public sealed class CoordinatorClusterOptionsValidator : IValidateOptions<CoordinatorClusterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CoordinatorClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = CoordinatorClusterOptions.SectionName;
        var errors = new List<string>();
        OptionRules.Identifier(errors, $"{section}:ClusterId", options.ClusterId);
        OptionRules.Identifier(errors, $"{section}:ServiceId", options.ServiceId);
        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add($"{section}:GatewayPort: must differ from {section}:SiloPort (both {options.SiloPort}).");
        }

        OptionRules.IpAddress(errors, $"{section}:AdvertisedAddress", options.AdvertisedAddress);
        OptionRules.Period(errors, $"{section}:ProbeTimeout", options.ProbeTimeout);
        if (options.DeadSiloLease < TimeSpan.Zero)
        {
            errors.Add($"{section}:DeadSiloLease: must not be negative (got {options.DeadSiloLease}).");
        }
        return OptionRules.Result(errors);
    }
}
