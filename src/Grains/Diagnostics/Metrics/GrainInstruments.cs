using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Telemetry;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>The grains' instruments, on the <see cref="CoordinatorTelemetry.MeterName"/> meter.</summary>
internal static class GrainInstruments
{
    private static readonly Meter Meter = new(CoordinatorTelemetry.MeterName);

    private static readonly Histogram<double> StateWriteDuration = Meter.CreateHistogram<double>(
        InstrumentNames.StateWriteDuration, "s", "Time of one attempt to write a grain's state to storage, by state and outcome.");

    /// <summary>Records a state write attempt that started at <paramref name="startTimestamp"/> (a Stopwatch timestamp).</summary>
    public static void StateWritten(string state, bool written, long startTimestamp) =>
        StateWriteDuration.Record(
            Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds,
            new KeyValuePair<string, object?>("state", state),
            new KeyValuePair<string, object?>("outcome", written ? "written" : "failed"));
}
