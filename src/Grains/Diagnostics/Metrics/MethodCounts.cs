namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>Calls of one grain method: handled, and being handled now (see <see cref="HandlerInstruments"/>).</summary>
internal sealed class MethodCounts
{
    /// <summary>Calls answered or failed.</summary>
    public long Requests;

    /// <summary>Calls whose turn runs now.</summary>
    public long Inflight;
}
