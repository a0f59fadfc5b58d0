using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Coordinator.Events.Timeline;
using Microsoft.Extensions.Options;

namespace Coordinator.Events.Hosting;

/// <summary>Run events of this node (section <c>Events</c>).</summary>
public sealed class EventsOptions : ISectionOptions<EventsOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Events";

    /// <inheritdoc />
    public static IValidateOptions<EventsOptions> Validator { get; } = new EventsOptionsValidator();

    /// <summary>Record this node's run events.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The run the events belong to. A run is one start of a cluster: the demo makes one per invocation and gives it to
    /// every process it starts; when empty, the cluster id (one deployment) names the run.
    /// </summary>
    public string RunId { get; set; } = "";

    /// <summary>The node's spool directory; each node of a machine needs its own (the node id is appended).</summary>
    public string Directory { get; set; } = "events";

    /// <summary>How often the node records a snapshot of its resources.</summary>
    public TimeSpan ResourcePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the node sends what its spool holds to the recorders.</summary>
    public TimeSpan ShipPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The most events sent in one call to a recorder.</summary>
    [Range(1, 10_000)]
    public int ShipBatch { get; set; } = 1000;

    /// <summary>
    /// The event store's directory on coordinator silos of the embedded default (with Redis persistence, the events are
    /// kept in Redis streams instead): one subdirectory per run, one per node below it.
    /// </summary>
    public string StoreDirectory { get; set; } = "events-store";

    /// <summary>How long a run's events are kept after its last one.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// The most events a coordinator silo keeps merged in memory for its timeline API (about 500 bytes each): past it the
    /// least used runs leave, never the one being read.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int TimelineCacheEvents { get; set; } = TimelineCache.DefaultMaxEvents;

    /// <summary>
    /// Also export each event, once its recorder holds it, as an OTLP log record with its trace (through the node's log
    /// export: needs <c>Telemetry:OtlpEndpoint</c> and <c>Telemetry:ExportLogs</c>).
    /// </summary>
    public bool ExportOtlp { get; set; }

    /// <summary>The rule across sections for <see cref="ExportOtlp"/>: the problem, or null when the node exports its logs.</summary>
    public string? ExportProblem(bool exportsLogs) =>
        Enabled && ExportOtlp && !exportsLogs
            ? $"{SectionName}:ExportOtlp: events are exported with the node's logs, so it needs Telemetry:OtlpEndpoint set and Telemetry:ExportLogs true."
            : null;
}

/// <summary>Validates <see cref="EventsOptions"/>.</summary>
public sealed class EventsOptionsValidator : IValidateOptions<EventsOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, EventsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = EventsOptions.SectionName;
        var errors = new List<string>();
        if (options.RunId.Length > 0)
        {
            OptionRules.Identifier(errors, $"{section}:RunId", options.RunId);
        }

        OptionRules.Period(errors, $"{section}:ResourcePeriod", options.ResourcePeriod);
        OptionRules.Period(errors, $"{section}:ShipPeriod", options.ShipPeriod);
        OptionRules.Period(errors, $"{section}:Retention", options.Retention);
        if (string.IsNullOrWhiteSpace(options.StoreDirectory))
        {
            errors.Add($"{section}:StoreDirectory: must not be empty.");
        }
        if (options.Enabled && string.IsNullOrWhiteSpace(options.Directory))
        {
            errors.Add($"{section}:Directory: must not be empty while {section}:Enabled is true.");
        }

        return OptionRules.Result(errors);
    }
}
