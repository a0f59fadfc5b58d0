using System.Diagnostics;
using Coordinator.Contracts.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Logs;

namespace Coordinator.ServiceDefaults.Telemetry;

/// <summary>
/// Gives a log record that tells of something recorded earlier (a run event, see
/// <see cref="CoordinatorTelemetry.RecordedTraceId"/>) that thing's trace, span and time instead of those of the code
/// that writes it, and drops the carrier attributes. Runs before the exporter; other records pass untouched.
/// </summary>
internal sealed class RecordedContextProcessor : BaseProcessor<LogRecord>
{
    public override void OnEnd(LogRecord data)
    {
        if (data.Attributes is not { Count: > 0 } attributes || !Carries(attributes))
        {
            return;
        }

        var kept = new List<KeyValuePair<string, object?>>(attributes.Count);
        string? traceId = null;
        string? spanId = null;
        foreach (var attribute in attributes)
        {
            switch (attribute.Key)
            {
                case CoordinatorTelemetry.RecordedTraceId:
                    traceId = attribute.Value as string;
                    break;
                case CoordinatorTelemetry.RecordedSpanId:
                    spanId = attribute.Value as string;
                    break;
                case CoordinatorTelemetry.RecordedAt when attribute.Value is DateTimeOffset at:
                    data.Timestamp = at.UtcDateTime;
                    break;
                default:
                    kept.Add(attribute);
                    break;
            }
        }

        // A record of no trace keeps none: the writer's current activity is not what it tells of.
        var linked = traceId is { Length: 32 } && spanId is { Length: 16 } && traceId.All(char.IsAsciiHexDigitLower) && spanId.All(char.IsAsciiHexDigitLower);
        data.TraceId = linked ? ActivityTraceId.CreateFromString(traceId) : default;
        data.SpanId = linked ? ActivitySpanId.CreateFromString(spanId) : default;
        data.TraceFlags = linked ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None;
        data.Attributes = kept;
    }

    private static bool Carries(IReadOnlyList<KeyValuePair<string, object?>> attributes)
    {
        foreach (var attribute in attributes)
        {
            if (attribute.Key == CoordinatorTelemetry.RecordedAt)
            {
                return true;
            }
        }

        return false;
    }
}
