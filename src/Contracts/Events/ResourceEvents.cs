namespace Coordinator.Contracts.Events;

/// <summary>
/// A snapshot of the node's resources (every 30 s by default). GPU fields are null on a node without one; counters
/// (network bytes) are totals since the process started, so the difference of two snapshots is the traffic between.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ResourceSnapshot(
    [property: Id(0)] double CpuUtilization,
    [property: Id(1)] long MemoryBytes,
    [property: Id(2)] long? GpuMemoryBytes,
    [property: Id(3)] double? GpuUtilization,
    [property: Id(4)] long NetworkBytesSent,
    [property: Id(5)] long NetworkBytesReceived,
    [property: Id(6)] long DiskBytesAvailable) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "resources.snapshot";
}
