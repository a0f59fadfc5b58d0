namespace Coordinator.Contracts.Telemetry;

/// <summary>
/// The moment a grain call left its sender (UTC), carried in the call's request context so the receiving silo can tell
/// the time the call spent on the network and waiting for its turn from the time its handler took. Clients and silos
/// stamp every call unless told not to (their <c>StampCalls</c> options); a call without a stamp is measured from the
/// start of its turn only. The receiving silo's filter <see cref="Take">takes</see> the stamp out of the call's context,
/// so it is not sent back with the answer.
/// </summary>
public static class CallStamp
{
    /// <summary>The request-context key; its value is the sender's UTC clock in ticks.</summary>
    public const string Key = "coordinator.sent";

    /// <summary>Stamps the call about to be sent from this execution context with <paramref name="now"/>.</summary>
    public static void Stamp(DateTimeOffset now) => RequestContext.Set(Key, now.UtcTicks);

    /// <summary>
    /// When the call being handled in this execution context was sent (null when its sender did not stamp it), taken
    /// out of the call's context (<see cref="CallContext.Take"/>); for an incoming filter, before the handler runs.
    /// </summary>
    public static DateTimeOffset? Take() => CallContext.Take(Key) is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
}
