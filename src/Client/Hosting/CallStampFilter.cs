using Coordinator.Contracts.Telemetry;

namespace Coordinator.Client.Hosting;

/// <summary>
/// Stamps every grain call this process sends with the moment it left (<see cref="CallStamp"/>). Reads the system
/// clock, not an injected one: the receiver compares the stamp with its own clock, so both must be real.
/// </summary>
public sealed class CallStampFilter : IOutgoingGrainCallFilter
{
    /// <inheritdoc />
    public Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        CallStamp.Stamp(TimeProvider.System.GetUtcNow());
        return context.Invoke();
    }
}
