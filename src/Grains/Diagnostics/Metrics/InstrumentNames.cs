namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>Names of the grains' instruments, as exported (Prometheus adds the unit: <c>_seconds</c>).</summary>
internal static class InstrumentNames
{
    /// <summary>Histogram: one attempt to write a grain's state, by state and outcome.</summary>
    public const string StateWriteDuration = "coordinator.grain.state_write.duration";
}
