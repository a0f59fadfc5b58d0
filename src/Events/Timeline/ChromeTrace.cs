using System.Text.Json;
using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// Writes a timeline as Chrome trace event JSON (opens in ui.perfetto.dev or chrome://tracing): one process per node,
/// every fact an instant on its node's "events" track, each training run a slice on the trainer's "device" track, each
/// operation an async span on its coordinator from submission to outcome, with a flow arrow to the trainer's slice.
/// Times are microseconds from the run's first event.
/// </summary>
public static class ChromeTrace
{
    private const int EventsTrack = 1;
    private const int DeviceTrack = 2;

    /// <summary>Writes <paramref name="timeline"/> to <paramref name="stream"/>.</summary>
    public static async Task WriteAsync(RunTimeline timeline, Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        ArgumentNullException.ThrowIfNull(stream);
        await using var json = new Utf8JsonWriter(stream);
        json.WriteStartObject();
        json.WriteStartArray("traceEvents");
        var pids = timeline.Nodes.Select((node, i) => (node, i + 1)).ToDictionary(p => p.node, p => p.Item2, StringComparer.Ordinal);
        foreach (var (node, pid) in pids)
        {
            Metadata(json, "process_name", pid, 0, node);
            Metadata(json, "thread_name", pid, EventsTrack, "events");
            Metadata(json, "thread_name", pid, DeviceTrack, "device");
        }

        var origin = timeline.Events.Count == 0 ? DateTimeOffset.UnixEpoch : timeline.Events.Min(e => e.Stamp.Timestamp);
        double Micros(DateTimeOffset at) => (at - origin).Ticks / 10.0;
        foreach (var runEvent in timeline.Events)
        {
            var (stamp, pid) = (runEvent.Stamp, pids[runEvent.Stamp.NodeId]);
            var view = EventView.Of(runEvent);
            Begin(json, runEvent.Body.Type, "fact", "i", pid, EventsTrack, Micros(stamp.Timestamp));
            json.WriteString("s", "t");
            Args(json, view);
            json.WriteEndObject();

            switch (runEvent.Body)
            {
                case TrainingFinished finished:
                    var start = Micros(stamp.Timestamp - finished.ComputeTime);
                    Begin(json, finished.Kind, "training", "X", pid, DeviceTrack, start);
                    json.WriteNumber("dur", finished.ComputeTime.Ticks / 10.0);
                    Args(json, view);
                    json.WriteEndObject();
                    if (runEvent.Tags.OperationId is { } ran)
                    {
                        Begin(json, "operation", "flow", "f", pid, DeviceTrack, start);
                        json.WriteString("id", ran);
                        json.WriteString("bp", "e");
                        json.WriteEndObject();
                    }

                    break;
                case OperationSubmitted submitted when runEvent.Tags.OperationId is { } id:
                    Begin(json, submitted.Kind, "operation", "b", pid, EventsTrack, Micros(stamp.Timestamp));
                    json.WriteString("id", id);
                    Args(json, view);
                    json.WriteEndObject();
                    Begin(json, "operation", "flow", "s", pid, EventsTrack, Micros(stamp.Timestamp));
                    json.WriteString("id", id);
                    json.WriteEndObject();
                    break;
                case OperationCompleted completed when runEvent.Tags.OperationId is { } id:
                    Begin(json, completed.Kind, "operation", "e", pid, EventsTrack, Micros(stamp.Timestamp));
                    json.WriteString("id", id);
                    json.WriteEndObject();
                    break;
            }
        }

        json.WriteEndArray();
        json.WriteString("displayTimeUnit", "ms");
        json.WriteEndObject();
        await json.FlushAsync(cancellationToken);
    }

    private static void Metadata(Utf8JsonWriter json, string name, int pid, int tid, string value)
    {
        Begin(json, name, "__metadata", "M", pid, tid, 0);
        json.WriteStartObject("args");
        json.WriteString("name", value);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void Begin(Utf8JsonWriter json, string name, string category, string phase, int pid, int tid, double ts)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("cat", category);
        json.WriteString("ph", phase);
        json.WriteNumber("pid", pid);
        json.WriteNumber("tid", tid);
        json.WriteNumber("ts", ts);
    }

    private static void Args(Utf8JsonWriter json, EventView view)
    {
        json.WritePropertyName("args");
        JsonSerializer.Serialize(json, new { view.Sequence, view.Tags, view.Fields }, EventView.Json);
    }
}
