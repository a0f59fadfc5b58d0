using System.Globalization;
using System.Text.Json;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>One red flag: a rule the slow calls or stalls broke, how often, the worst case, and what it means.</summary>
public sealed record RedFlag(string Rule, string Severity, int Count, SlowCall Worst, double Measure, string Meaning);

/// <summary>
/// Reads slow-call files (<see cref="SlowCallLog"/>) and says what they show: red flags with their meaning, and the
/// slowest calls with their breakdown. The rules and their limits are written here once; the <c>diagnose</c> verbs of
/// the silo and the trainer host print them.
/// </summary>
public sealed class SlowCallDiagnosis
{
    /// <summary>A thread-pool work item late by more than this delays every call of the process.</summary>
    public const double StallMs = 5;

    /// <summary>A handler slice on a thread longer than this starves the activation (a warning; critical past <see cref="HeldCriticalMs"/>).</summary>
    public const double HeldWarningMs = 10;

    /// <summary>See <see cref="HeldWarningMs"/>.</summary>
    public const double HeldCriticalMs = 50;

    /// <summary>CPU per wall time on the thread below this: the handler was blocked or descheduled, not working.</summary>
    public const double CpuRatio = 0.5;

    /// <summary>A part above this share of a call's time dominates it.</summary>
    public const double Dominant = 0.5;

    private SlowCallDiagnosis(IReadOnlyList<SlowCall> lines, IReadOnlyList<string> files, IReadOnlyList<string> skipped)
    {
        (Lines, Files, Skipped) = (lines, files, skipped);
        Flags = [.. Evaluate(lines)];
    }

    /// <summary>Every line read, in file order.</summary>
    public IReadOnlyList<SlowCall> Lines { get; }

    /// <summary>The files read.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Lines that could not be read, each naming its file and line number and what was wrong.</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>The red flags, most severe first.</summary>
    public IReadOnlyList<RedFlag> Flags { get; }

    /// <summary>
    /// Reads <paramref name="path"/>: one slow-call file, or a directory searched for them (every node's, rotated ones
    /// included). Throws <see cref="FileNotFoundException"/> naming the path when there is nothing to read.
    /// </summary>
    public static SlowCallDiagnosis Read(string path)
    {
        string[] files = File.Exists(path) ? [path]
            : System.IO.Directory.Exists(path) ? [.. System.IO.Directory.EnumerateFiles(path, "slow-calls*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal)]
            : throw new FileNotFoundException($"No slow-call file or directory at '{path}'.", path);
        if (files.Length == 0)
        {
            throw new FileNotFoundException($"No slow-call files (slow-calls*.jsonl) under '{path}'.", path);
        }

        var lines = new List<SlowCall>();
        var skipped = new List<string>();
        foreach (var file in files)
        {
            using var reader = new StreamReader(new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
            var number = 0;
            while (reader.ReadLine() is { } line)
            {
                number++;
                if (line.Length == 0)
                {
                    continue;
                }

                try
                {
                    lines.Add(SlowCall.Parse(line));
                }
                catch (FormatException ex)
                {
                    skipped.Add($"{file}:{number}: {ex.Message}");
                }
            }
        }

        return new SlowCallDiagnosis(lines, files, skipped);
    }

    /// <summary>Prints the flags and the slowest calls, for a person.</summary>
    public void WriteText(TextWriter output, int slowest = 5)
    {
        ArgumentNullException.ThrowIfNull(output);
        var calls = Lines.Where(l => l.Kind == "call").ToList();
        var stalls = Lines.Count - calls.Count;
        output.WriteLine($"{calls.Count} calls and {stalls} stalls from {Lines.Select(l => l.Node).Distinct().Count()} node(s) in {Files.Count} file(s).");
        foreach (var skip in Skipped)
        {
            output.WriteLine($"skipped {skip}");
        }

        if (Flags.Count == 0)
        {
            output.WriteLine("No red flags.");
        }

        foreach (var flag in Flags)
        {
            output.WriteLine($"[{flag.Severity}] {flag.Rule} x{flag.Count}: worst {Ms(flag.Measure)} {Where(flag.Worst)}");
            output.WriteLine($"    {flag.Meaning}");
        }

        if (calls.Count > 0)
        {
            output.WriteLine("Slowest calls:");
            foreach (var call in calls.OrderByDescending(c => c.Total).Take(slowest))
            {
                output.WriteLine($"  {Ms(call.Total)} {Where(call)}");
                output.WriteLine($"    {Breakdown(call)}");
            }
        }
    }

    /// <summary>Prints the flags, the skipped lines and the counts as one JSON object, for scripts.</summary>
    public void WriteJson(Stream output)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteNumber("calls", Lines.Count(l => l.Kind == "call"));
        json.WriteNumber("stalls", Lines.Count(l => l.Kind == "stall"));
        json.WriteStartArray("files");
        foreach (var file in Files)
        {
            json.WriteStringValue(file);
        }

        json.WriteEndArray();
        json.WriteStartArray("skipped");
        foreach (var skip in Skipped)
        {
            json.WriteStringValue(skip);
        }

        json.WriteEndArray();
        json.WriteStartArray("flags");
        foreach (var flag in Flags)
        {
            json.WriteStartObject();
            json.WriteString("rule", flag.Rule);
            json.WriteString("severity", flag.Severity);
            json.WriteNumber("count", flag.Count);
            json.WriteNumber("worst_ms", flag.Measure);
            json.WritePropertyName("worst");
            flag.Worst.Write(json);
            json.WriteString("meaning", flag.Meaning);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static IEnumerable<RedFlag> Evaluate(IReadOnlyList<SlowCall> lines)
    {
        var calls = lines.Where(l => l.Kind == "call").ToList();
        var flags = new List<RedFlag?>
        {
            Flag("scheduler_stall", "critical", lines.Where(l => l.Kind == "stall" && l.Delay > StallMs), l => l.Delay,
                $"A thread-pool work item waited over {StallMs} ms for a thread: every call on that node waited as long before its handler ran. "
                + "Look for blocking on pool threads (.Result, .Wait(), locks, synchronous I/O) or a process with too few cores."),
            Flag("thread_held", "critical", calls.Where(c => c.LongestSlice > HeldCriticalMs), c => c.LongestSlice,
                $"A handler held a thread for over {HeldCriticalMs} ms without awaiting: no other call of its activation ran meanwhile, and the pool "
                + "had a thread fewer. Move heavy or blocking work off the grain's turn."),
            Flag("thread_held", "warning", calls.Where(c => c.LongestSlice is > HeldWarningMs and <= HeldCriticalMs), c => c.LongestSlice,
                $"A handler held a thread for over {HeldWarningMs} ms without awaiting; past {HeldCriticalMs} ms the activation and the pool suffer."),
            Flag("blocked_on_thread", "warning", calls.Where(c => OffCpu(c) && !Descheduled(c)), c => c.OnThread,
                $"The handler was on a thread but used the CPU less than {CpuRatio:0.#} of that time: it was blocked (a lock, synchronous I/O, "
                + ".Result, a native library loading, a garbage collection pausing every thread), or, where the line has no run_queue_ms, perhaps descheduled."),
            Flag("descheduled", "warning", calls.Where(c => OffCpu(c) && Descheduled(c)), c => c.RunQueue ?? 0,
                $"The handler was on a thread but used the CPU less than {CpuRatio:0.#} of that time, and its thread spent most of the rest "
                + "ready to run but waiting for a core: the machine had more runnable threads than cores (other processes, a busy pool, "
                + "the GC). Give the node more cores or fewer neighbours; the handler itself was not blocked."),
            Flag("queue_dominates", "warning", calls.Where(c => c.Queue is { } q && q > Dominant * c.Total), c => c.Queue ?? 0,
                "The call waited for its turn longer than everything else: other calls held its activation. The grain is a hot spot; "
                + "spread the work over more grains, shorten the calls that hold it, or let the method interleave if it is safe."),
            Flag("trainer_queue_dominates", "warning",
                calls.Where(c => c.Trainer > Dominant * c.Total && c.TrainerQueue > Dominant * (c.TrainerQueue + c.TrainerCompute)), c => c.TrainerQueue,
                "The operations the call waited for queued on the trainer's device longer than they computed: the device is the bottleneck. "
                + "Add replicas or spread adapters over more trainers."),
            Flag("transit_dominates", "warning", calls.Where(c => c.Transit is { } t && t > 1 && t > Dominant * c.Total), c => c.Transit ?? 0,
                "The call spent most of its time between its sending and its turn, not behind other calls: the network, a late thread pool "
                + "on either side (see scheduler_stall), the sender finding where the grain lives (a first call asks the grain directory), "
                + "or clocks of two machines that disagree."),
        };
        return flags.OfType<RedFlag>().OrderBy(f => f.Severity == "critical" ? 0 : 1);
    }

    // On a thread for a millisecond or more, using the CPU for less than CpuRatio of it.
    private static bool OffCpu(SlowCall call) => call.Cpu is { } cpu && call.OnThread >= 1 && cpu < CpuRatio * call.OnThread;

    // Of the time on the thread not spent on a CPU, most was waiting for one.
    private static bool Descheduled(SlowCall call) => call.RunQueue is { } waited && waited > Dominant * (call.OnThread - (call.Cpu ?? 0));

    private static RedFlag? Flag(string rule, string severity, IEnumerable<SlowCall> matches, Func<SlowCall, double> measure, string meaning)
    {
        var list = matches.ToList();
        if (list.Count == 0)
        {
            return null;
        }

        var worst = list.MaxBy(measure)!;
        return new RedFlag(rule, severity, list.Count, worst, measure(worst), meaning);
    }

    private static string Where(SlowCall line) => line.Kind == "stall"
        ? $"on {line.Node} at {Time(line.At)}"
        : $"{line.Grain}.{line.Method} on {line.Node} at {Time(line.At)}{(line.TraceId is null ? "" : $" trace {line.TraceId}")}{(line.Error is null ? "" : $" failed: {line.Error}")}";

    private static string Breakdown(SlowCall call)
    {
        var parts = new List<string>
        {
            $"transit {(call.Transit is { } t ? Ms(t) : "unknown")}",
            $"queue {(call.Queue is { } q ? Ms(q) : "unknown")}",
            $"on thread {Ms(call.OnThread)}{(call.Cpu is { } cpu ? $" (cpu {Ms(cpu)}{(call.RunQueue is { } waited ? $", waiting for a core {Ms(waited)}" : "")})" : "")}",
            $"unmarked awaits {Ms(call.Unmarked)}",
            $"grain calls {Ms(call.GrainCalls)}",
            $"storage {Ms(call.Storage)}",
            $"trainer {Ms(call.Trainer)}{(call.TrainerQueue + call.TrainerCompute > 0 ? $" (device queue {Ms(call.TrainerQueue)}, compute {Ms(call.TrainerCompute)})" : "")}",
        };
        return string.Join(", ", parts);
    }

    private static string Ms(double ms) => ms.ToString(ms >= 100 ? "0" : "0.###", CultureInfo.InvariantCulture) + " ms";

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
