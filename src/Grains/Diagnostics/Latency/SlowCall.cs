using System.Globalization;
using System.Text.Json;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// One line of the slow-call file: a call with the breakdown of its time, or a stall of the thread pool. Times are in
/// milliseconds. A call's <see cref="Total"/> is its transit, its queue wait and its handler's <see cref="Duration"/>; the
/// duration is the time on the thread, the unmarked awaits, and the waits on grain calls, storage and the trainer.
/// </summary>
public sealed record SlowCall
{
    /// <summary><c>call</c> or <c>stall</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>When the call answered, or the stall was seen (UTC).</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>The silo or trainer host.</summary>
    public required string Node { get; init; }

    public string? Grain { get; init; }
    public string? Method { get; init; }
    public string? TraceId { get; init; }

    /// <summary>Null when the call succeeded; otherwise the bounded error type of the handler metrics.</summary>
    public string? Error { get; init; }

    /// <summary>Why it was written: over the threshold, or among the slowest of its minute.</summary>
    public string? Reason { get; init; }

    public double Total { get; init; }

    /// <summary>Null when the sender did not stamp the call.</summary>
    public double? Transit { get; init; }

    /// <summary>Null when the sender did not stamp the call: the wait is counted back from the sending.</summary>
    public double? Queue { get; init; }
    public double Duration { get; init; }
    public double OnThread { get; init; }
    public double LongestSlice { get; init; }
    public double? Cpu { get; init; }

    /// <summary>Of <see cref="OnThread"/>: ready to run but waiting for a core (see <see cref="HandlerTime.RunQueue"/>).</summary>
    public double? RunQueue { get; init; }

    /// <summary>Time the handler awaited something the Coordinator does not mark (see <see cref="HandlerTime.Unmarked"/>).</summary>
    public double Unmarked { get; init; }
    public double GrainCalls { get; init; }
    public double Storage { get; init; }
    public double Trainer { get; init; }
    public double TrainerQueue { get; init; }
    public double TrainerCompute { get; init; }

    /// <summary>For a stall: how long the canary's work item waited for a thread.</summary>
    public double Delay { get; init; }

    /// <summary>A call's line.</summary>
    internal static SlowCall Of(string node, DateTimeOffset at, string grain, string method, string? traceId, string? error, string reason, TimeSpan? transit, TimeSpan? queue, HandlerTime time) => new()
    {
        Kind = "call",
        At = at,
        Node = node,
        Grain = grain,
        Method = method,
        TraceId = traceId,
        Error = error,
        Reason = reason,
        Total = Ms((transit ?? TimeSpan.Zero) + (queue ?? TimeSpan.Zero) + time.Duration),
        Transit = transit is { } t ? Ms(t) : null,
        Queue = queue is { } q ? Ms(q) : null,
        Duration = Ms(time.Duration),
        OnThread = Ms(time.OnThread),
        LongestSlice = Ms(time.LongestSlice),
        Cpu = time.Cpu is { } cpu ? Ms(cpu) : null,
        RunQueue = time.RunQueue is { } runQueue ? Ms(runQueue) : null,
        Unmarked = Ms(time.Unmarked),
        GrainCalls = Ms(time.GrainCalls),
        Storage = Ms(time.Storage),
        Trainer = Ms(time.Trainer),
        TrainerQueue = Ms(time.TrainerQueue),
        TrainerCompute = Ms(time.TrainerCompute),
    };

    /// <summary>A stall's line.</summary>
    internal static SlowCall OfStall(string node, DateTimeOffset at, TimeSpan delay) => new() { Kind = "stall", At = at, Node = node, Delay = Ms(delay) };

    /// <summary>The line, as written (one JSON object, snake_case keys, no line breaks).</summary>
    public void Write(Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject();
        json.WriteString("kind", Kind);
        json.WriteString("at", At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        json.WriteString("node", Node);
        if (Kind == "stall")
        {
            json.WriteNumber("delay_ms", Delay);
            json.WriteEndObject();
            return;
        }

        json.WriteString("grain", Grain);
        json.WriteString("method", Method);
        Optional(json, "trace_id", TraceId);
        Optional(json, "error", Error);
        json.WriteString("reason", Reason);
        json.WriteNumber("total_ms", Total);
        Optional(json, "transit_ms", Transit);
        Optional(json, "queue_ms", Queue);
        json.WriteNumber("duration_ms", Duration);
        json.WriteNumber("on_thread_ms", OnThread);
        json.WriteNumber("longest_slice_ms", LongestSlice);
        Optional(json, "cpu_ms", Cpu);
        Optional(json, "run_queue_ms", RunQueue);
        json.WriteNumber("unmarked_ms", Unmarked);
        json.WriteNumber("grain_calls_ms", GrainCalls);
        json.WriteNumber("storage_ms", Storage);
        json.WriteNumber("trainer_ms", Trainer);
        if (TrainerQueue > 0 || TrainerCompute > 0)
        {
            json.WriteNumber("trainer_queue_ms", TrainerQueue);
            json.WriteNumber("trainer_compute_ms", TrainerCompute);
        }

        json.WriteEndObject();
    }

    /// <summary>Reads a line written by <see cref="Write"/>; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static SlowCall Parse(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            var kind = Text(root, "kind") ?? throw new FormatException("no \"kind\"");
            var at = Text(root, "at") is { } a ? DateTimeOffset.Parse(a, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : throw new FormatException("no \"at\"");
            var node = Text(root, "node") ?? throw new FormatException("no \"node\"");
            return kind switch
            {
                "stall" => new SlowCall { Kind = kind, At = at, Node = node, Delay = Number(root, "delay_ms") ?? throw new FormatException("no \"delay_ms\"") },
                "call" => new SlowCall
                {
                    Kind = kind,
                    At = at,
                    Node = node,
                    Grain = Text(root, "grain"),
                    Method = Text(root, "method"),
                    TraceId = Text(root, "trace_id"),
                    Error = Text(root, "error"),
                    Reason = Text(root, "reason"),
                    Total = Number(root, "total_ms") ?? throw new FormatException("no \"total_ms\""),
                    Transit = Number(root, "transit_ms"),
                    Queue = Number(root, "queue_ms"),
                    Duration = Number(root, "duration_ms") ?? 0,
                    OnThread = Number(root, "on_thread_ms") ?? 0,
                    LongestSlice = Number(root, "longest_slice_ms") ?? 0,
                    Cpu = Number(root, "cpu_ms"),
                    RunQueue = Number(root, "run_queue_ms"),
                    Unmarked = Number(root, "unmarked_ms") ?? 0,
                    GrainCalls = Number(root, "grain_calls_ms") ?? 0,
                    Storage = Number(root, "storage_ms") ?? 0,
                    Trainer = Number(root, "trainer_ms") ?? 0,
                    TrainerQueue = Number(root, "trainer_queue_ms") ?? 0,
                    TrainerCompute = Number(root, "trainer_compute_ms") ?? 0,
                },
                _ => throw new FormatException($"unknown kind '{kind}'"),
            };
        }
        catch (JsonException ex)
        {
            throw new FormatException($"not a JSON object ({ex.Message})", ex);
        }
    }

    private static double Ms(TimeSpan time) => Math.Round(time.TotalMilliseconds, 3);

    private static void Optional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }

    private static void Optional(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } number)
        {
            json.WriteNumber(name, number);
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static double? Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
