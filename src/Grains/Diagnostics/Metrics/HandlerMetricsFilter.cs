using System.Diagnostics;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>
/// Measures every grain call this silo handles (<see cref="HandlerInstruments"/>). It runs inside the error translation,
/// so a failure is counted by its own kind. Costs one check of the instruments when no meter provider listens.
/// </summary>
internal sealed class HandlerMetricsFilter : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (!HandlerInstruments.Enabled)
        {
            await context.Invoke();
            return;
        }

        var tags = new TagList
        {
            { "grain", context.Grain?.GetType().Name ?? context.InterfaceName },
            { "method", context.MethodName },
        };
        HandlerInstruments.Started(tags);
        var start = Stopwatch.GetTimestamp();
        try
        {
            await context.Invoke();
        }
        catch (Exception ex)
        {
            HandlerInstruments.Finished(tags, start, ex);
            throw;
        }

        HandlerInstruments.Finished(tags, start, null);
    }
}
