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
internal sealed class EventLogExport(ILoggerFactory loggers)
{
    /// <summary>The log category of exported events; kept off the console (a line per event would bury the node's own).</summary>
    public const string Category = "Coordinator.Events.Export";

    private readonly ILogger _logger = loggers.CreateLogger(Category);

    /// <summary>Writes <paramref name="events"/>, just appended to the store.</summary>
    public void Write(IReadOnlyList<RunEvent> events)
    {
        foreach (var runEvent in events)
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
    }

    /// <summary>A field as an attribute value: strings, numbers and booleans as themselves, anything else as its JSON.</summary>
    private static object? Scalar(JsonNode? value) => value switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var text) => text,
        JsonValue v when v.TryGetValue<long>(out var whole) => whole,
        JsonValue v when v.TryGetValue<double>(out var number) => number,
        JsonValue v when v.TryGetValue<bool>(out var flag) => flag,
        _ => value.ToJsonString(EventView.Json),
    };
}
