using System.Diagnostics;

namespace Coordinator.Contracts.Telemetry;

/// <summary>Names of the Coordinator's activity source, meter and correlation attributes.</summary>
public static class CoordinatorTelemetry
{
    /// <summary>Name of the ActivitySource of Coordinator's own operations.</summary>
    public const string SourceName = "Coordinator";

    /// <summary>Name of the Meter of Coordinator's own instruments (exported with Orleans' and the runtime's).</summary>
    public const string MeterName = "Coordinator";

    /// <summary>
    /// Bucket bounds, in seconds, of every Coordinator duration histogram that spans grain calls and training operations:
    /// from 100 µs (a grain call) to 600 s (a long training step), so one dashboard reads them all alike.
    /// </summary>
    public static IReadOnlyList<double> DurationBuckets { get; } =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    /// <summary>The activity source for business operations (client facade, trainers).</summary>
    public static readonly ActivitySource ActivitySource = new(SourceName);

    /// <summary>
    /// Log attribute: the W3C trace id (hex) a log record belongs to when it tells of something that happened earlier,
    /// elsewhere (a run event exported as a log record), rather than in the activity that writes it. The OTLP log export
    /// moves it, with <see cref="RecordedSpanId"/> and <see cref="RecordedAt"/>, into the record's own fields.
    /// </summary>
    public const string RecordedTraceId = "coordinator.recorded.trace_id";

    /// <summary>Log attribute: the span id (hex) of such a record; see <see cref="RecordedTraceId"/>.</summary>
    public const string RecordedSpanId = "coordinator.recorded.span_id";

    /// <summary>Log attribute: when what such a record tells of happened (a <see cref="DateTimeOffset"/>); see <see cref="RecordedTraceId"/>.</summary>
    public const string RecordedAt = "coordinator.recorded.at";

    /// <summary>Correlation attribute: session id.</summary>
    public const string SessionId = "coordinator.session_id";

    /// <summary>Correlation attribute: model (LoRA adapter) id.</summary>
    public const string ModelId = "coordinator.model_id";

    /// <summary>Correlation attribute: replica id.</summary>
    public const string ReplicaId = "coordinator.replica_id";

    /// <summary>Correlation attribute: base model name.</summary>
    public const string BaseModel = "coordinator.base_model";
}
