using System.Text.Json;
using System.Text.Json.Nodes;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Telemetry;
using Coordinator.Events.Timeline;
using Microsoft.Extensions.Logging;

namespace Coordinator.Events.Shipping;

/// <summary>
/// Writes each event this node's recorders newly hold as a log record of category <see cref="Category"/>, which the node's
/// OTLP log export sends on (<c>Events:ExportOtlp</c>), so any OTLP backend can keep and search a run's events at scale.
/// A record carries the event's time, trace and span as its own (see <see cref="CoordinatorTelemetry.RecordedTraceId"/>),
/// its type, run, node, sequence and hybrid clock, its tags under the names spans use (<c>coordinator.model_id</c>, ...)
/// and its fields as <c>event.{field}</c>. It is written after the store holds the event, once per event unless the
/// node dies between the two (the store, not this export, is the record that is never short).
/// </summary>
internal sealed partial class EventLogExport(ILoggerFactory loggers)
{
    /// <summary>The log category of exported events; kept off the console (a line per event would bury the node's own).</summary>
    public const string Category = "Coordinator.Events.Export";

    private readonly ILogger _logger = loggers.CreateLogger(Category);
    private readonly ILogger _own = loggers.CreateLogger<EventLogExport>();
    private long _failed;

    /// <summary>Events that could not be exported (logged once).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>
    /// Writes <paramref name="events"/>, just appended to the store. A <c>log.recorded</c> event is left out: it is a log
    /// line the node's log export already sent. An event that cannot be written is counted, and the rest go on.
    /// </summary>
    public void Write(IEnumerable<RunEvent> events)
    {
        foreach (var runEvent in events)
        {
            if (runEvent.Body is LogRecorded)
            {
                continue;
            }

            try
            {
                Write(runEvent);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                if (Interlocked.Increment(ref _failed) == 1)
                {
                    LogFailed(_own, ex, runEvent.Body.Type, runEvent.Stamp.Sequence);
                }
            }
        }
    }

    private void Write(RunEvent runEvent)
    {
        var view = EventView.Of(runEvent);
        var attributes = new List<KeyValuePair<string, object?>>(12 + view.Tags.Count + view.Fields.Count)
        {
            new("event.type", view.Type),
            new("run.id", runEvent.Stamp.RunId),
            new("node.id", view.Node),
            new("event.sequence", view.Sequence),
            new("event.clock", view.Clock),
            new(CoordinatorTelemetry.RecordedAt, view.At),
            new(CoordinatorTelemetry.RecordedTraceId, view.TraceId),
            new(CoordinatorTelemetry.RecordedSpanId, view.SpanId),
        };
        foreach (var (tag, value) in view.Tags)
        {
            attributes.Add(new($"coordinator.{tag}{(tag == "blob" ? "_hash" : "_id")}", value));
        }

        foreach (var (field, value) in view.Fields)
        {
            attributes.Add(new($"event.{field}", Scalar(value)));
        }

        _logger.Log(LogLevel.Information, new EventId(1, view.Type), attributes, null, (_, _) => view.ToLine());
    }

    /// <summary>
    /// A field as an attribute value: strings and booleans as themselves, every number as a double (so a field keeps one
    /// type from record to record), anything else as its JSON.
    /// </summary>
    private static object? Scalar(JsonNode? value) => value?.GetValueKind() switch
    {
        null => null,
        JsonValueKind.String => value.GetValue<string>(),
        JsonValueKind.Number => value.GetValue<double>(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => value.ToJsonString(EventView.Json),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run event {Type} #{Sequence} could not be exported as a log record; it is in the store (later failures are not logged)")]
    private static partial void LogFailed(ILogger logger, Exception exception, string type, long sequence);
}
