using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Diagnostics;

/// <summary>The scheduler canary and the slow-call file of a silo or trainer host (section <c>Diagnostics</c>).</summary>
public sealed class DiagnosticsOptions : ISectionOptions<DiagnosticsOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Diagnostics";

    /// <inheritdoc />
    public static IValidateOptions<DiagnosticsOptions> Validator { get; } = new DiagnosticsOptionsValidator();

    /// <summary>How often the thread-pool canary measures the scheduler's delay; zero turns it off.</summary>
    public TimeSpan SchedulerCanaryPeriod { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Stamp the calls this silo sends with the moment they left (<see cref="Contracts.Telemetry.CallStamp"/>), so their
    /// receivers measure transit and queue wait. A stamp is an entry of the call's request context: the first entry costs
    /// a trivial call about half its throughput (Orleans copies and serializes the context), one more about 5%.
    /// </summary>
    public bool StampCalls { get; set; } = true;

    /// <summary>
    /// Read the thread's CPU clock at each end of a handler's slices (Linux), so a slow call tells working from being
    /// blocked. Two or more reads per call, each a system call (about 1.5 µs on the CI machine, a few hundred ns on bare
    /// metal), so only the first call of each method reads it, and calls of a method whose slices average 1 ms or more:
    /// a slow call of a method that was quick until then has no CPU figure.
    /// </summary>
    public bool MeasureThreadCpu { get; set; } = true;

    /// <summary>A canary delay above this is written to the slow-call file as a stall.</summary>
    public TimeSpan StallThreshold { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// The slow-call files' directory, one subdirectory per node (<c>{SlowCallDirectory}/{node}/slow-calls.jsonl</c>);
    /// empty turns the file off.
    /// </summary>
    public string SlowCallDirectory { get; set; } = "diagnostics";

    /// <summary>A call that took longer than this, from its sending to its answer, is written with its breakdown; zero writes every call.</summary>
    public TimeSpan SlowCallThreshold { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Besides those, the slowest calls of each minute are written, this many.</summary>
    [Range(0, 100)]
    public int SlowestPerMinute { get; set; } = 3;

    /// <summary>The file is rotated (one older file kept) when it passes this size, so a node keeps at most twice this.</summary>
    [Range(4096, long.MaxValue)]
    public long SlowCallFileBytes { get; set; } = 8 * 1024 * 1024;
}

/// <summary>Validates <see cref="DiagnosticsOptions"/>.</summary>
public sealed class DiagnosticsOptionsValidator : IValidateOptions<DiagnosticsOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DiagnosticsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = DiagnosticsOptions.SectionName;
        var errors = new List<string>();
        if (options.SchedulerCanaryPeriod < TimeSpan.Zero)
        {
            errors.Add($"{section}:SchedulerCanaryPeriod: must be zero (off) or positive (got {options.SchedulerCanaryPeriod}).");
        }

        if (options.StallThreshold <= TimeSpan.Zero)
        {
            errors.Add($"{section}:StallThreshold: must be positive (got {options.StallThreshold}).");
        }

        if (options.SlowCallThreshold < TimeSpan.Zero)
        {
            errors.Add($"{section}:SlowCallThreshold: must be zero (every call) or positive (got {options.SlowCallThreshold}).");
        }

        return OptionRules.Result(errors);
    }
}
