using System.Diagnostics;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>
/// A grain method as this silo has seen it handled (by <see cref="HandlerMetricsFilter"/>): whether its calls hold the
/// activation alone, and whether they read the thread's CPU clock: the first call does, and later ones while the
/// longest slices of its calls average <see cref="HandlerMetricsFilter.LongSlice"/> or more, exponentially over about the
/// last <see cref="Averaged"/> calls. A method whose slices are that long pays for two reads well under 1% of a slice; a
/// sub-millisecond one (most grain calls) does not read it, and a rare long slice (the machine descheduled the thread)
/// does not make it. Thread-safe; updates that race may lose one another, which only moves the average a little.
/// </summary>
/// <param name="exclusive">Whether a call of it lets no other call into the activation (Orleans queues the rest behind it).</param>
/// <param name="counts">Its calls' counts, shared by every grain class of its name (the metrics' labels).</param>
internal sealed class HandledMethod(bool exclusive, MethodCounts counts)
{
    /// <summary>How many calls the average of slices weighs, about.</summary>
    public const int Averaged = 16;

    private static readonly long LongSliceTicks = (long)(HandlerMetricsFilter.LongSlice.TotalSeconds * Stopwatch.Frequency);

    // Stopwatch ticks; -1 until the first call ends (an unknown method is read).
    private long _averageSlice = -1;

    /// <summary>Whether a call of it lets no other call into the activation.</summary>
    public bool Exclusive { get; } = exclusive;

    /// <summary>Its calls' counts.</summary>
    public MethodCounts Counts { get; } = counts;

    /// <summary>Whether the next call reads the thread's CPU clock.</summary>
    public bool ReadsCpu
    {
        get
        {
            var average = Volatile.Read(ref _averageSlice);
            return average < 0 || average >= LongSliceTicks;
        }
    }

    /// <summary>A call ended, having held a thread for at most <paramref name="longestSlice"/>.</summary>
    public void Ran(TimeSpan longestSlice)
    {
        var slice = (long)(longestSlice.TotalSeconds * Stopwatch.Frequency);
        var average = Math.Max(0, Volatile.Read(ref _averageSlice));
        Volatile.Write(ref _averageSlice, average + ((slice - average) / Averaged));
    }
}
