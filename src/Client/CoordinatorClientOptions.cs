namespace Coordinator.Client;

/// <summary>How <see cref="CoordinatorClient"/> rides out failures: a silo dying, a gateway going away, storage restarting.</summary>
public sealed class CoordinatorClientOptions
{
    /// <summary>
    /// How long a call is repeated while it fails for a transient reason before the caller gets
    /// <see cref="Contracts.Errors.CoordinatorErrorCode.Unavailable"/>. A coordinator silo's failover takes a few seconds.
    /// </summary>
    public TimeSpan RetryTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Longest single wait for operations to finish; longer waits are made of several. Keep it well under
    /// <see cref="ResponseTimeout"/>, so a wait never looks like a lost call.
    /// </summary>
    public TimeSpan WaitSlice { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a call waits for its answer before it is repeated (the Orleans client's response timeout, set by
    /// <c>AddCoordinatorClusterClient</c>). A call in flight to a silo that was killed gets no answer, so this bounds
    /// what a failover costs a caller. Orleans' default is 30 s.
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Stamp every call with the moment it was sent (<see cref="Contracts.Telemetry.CallStamp"/>), so silos measure
    /// its transit and its wait for the grain's turn. The stamp is an entry of the call's request context, which Orleans
    /// copies and serializes with every call: the largest part of what call telemetry costs (see the runbook).
    /// </summary>
    public bool StampCalls { get; set; } = true;
}
