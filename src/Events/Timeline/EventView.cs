using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// An event as people and tools read it: the stamp flattened, the set tags by name, and the body's own fields. The JSON
/// API and the CLI show events this way.
/// </summary>
public sealed record EventView(
    DateTimeOffset At,
    string Clock,
    string Node,
    long Sequence,
    string Type,
    IReadOnlyDictionary<string, string> Tags,
    JsonObject Fields,
    string? TraceId,
    string? SpanId)
{
    /// <summary>The options events are written with: camel case, enums by name, non-finite numbers by name, no escaping beyond JSON's (pages set text, never HTML).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,

        // A diverged loss is NaN or infinite: written as "NaN", "Infinity", not refused.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The view of <paramref name="runEvent"/>.</summary>
    public static EventView Of(RunEvent runEvent)
    {
        ArgumentNullException.ThrowIfNull(runEvent);
        var stamp = runEvent.Stamp;
        var fields = JsonSerializer.SerializeToNode(runEvent.Body, runEvent.Body.GetType(), Json) as JsonObject ?? [];
        fields.Remove("type");
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in TimelineSubject.Tags)
        {
            if (TimelineSubject.Of(runEvent.Tags, tag) is { } value)
            {
                tags[tag] = value;
            }
        }

        return new EventView(stamp.Timestamp, stamp.Clock.ToString(), stamp.NodeId, stamp.Sequence, runEvent.Body.Type, tags, fields, stamp.TraceId, stamp.SpanId);
    }

    /// <summary>One line: UTC time, node and sequence, type, fields, tags.</summary>
    public string ToLine()
    {
        var line = new StringBuilder()
            .Append(At.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)).Append("  ")
            .Append(Node).Append('#').Append(Sequence.ToString(CultureInfo.InvariantCulture)).Append("  ")
            .Append(Type);
        foreach (var (name, value) in Fields)
        {
            line.Append(' ').Append(name).Append('=').Append(value?.ToJsonString(Json) ?? "null");
        }

        if (Tags.Count > 0)
        {
            line.Append("  [").AppendJoin(' ', Tags.Select(t => $"{t.Key}={t.Value}")).Append(']');
        }

        return line.ToString();
    }
}
