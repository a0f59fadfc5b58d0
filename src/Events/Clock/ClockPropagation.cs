using Coordinator.Contracts.Events;
using Coordinator.Contracts.Telemetry;

namespace Coordinator.Events.Clock;

/// <summary>
/// Carries this node's hybrid clock on every grain call it makes and merges the caller's into its own on every call it
/// receives, so an effect recorded by the callee is stamped after its cause recorded by the caller, whatever their wall
/// clocks say. (Answers carry no clock: a caller's facts after an answer are ordered by its own clock and wall time.)
/// </summary>
internal sealed class ClockPropagation(HybridClock clock) : IOutgoingGrainCallFilter, IIncomingGrainCallFilter
{
    /// <summary>The request context key of the caller's clock.</summary>
    internal const string Key = "coordinator.clock";

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        RequestContext.Set(Key, clock.Next());
        return context.Invoke();
    }

    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Taken out of the call's context: left there, it would be sent back with the answer for nothing.
        if (CallContext.Take(Key) is HybridTime sent)
        {
            clock.Observe(sent);
        }

        return context.Invoke();
    }
}
