namespace Coordinator.Contracts.Events;

/// <summary>
/// A snapshot of the node's resources (every 30 s by default): the process's CPU use since the previous snapshot (0 to
/// 1 of all cores) and working set; the machine's network byte counters (totals since boot, so the difference of two
/// snapshots is the traffic between; null where the platform does not say) and the free disk under the node's spool.
/// GPU fields (memory in use summed over the GPUs, their mean utilisation, from nvidia-smi) are null on a node without one.
/// </summary>
[GenerateSerializer, Immutable]
[Alias("ev:resources.snapshot")]
[Id(7128)]
public sealed record ResourceSnapshot(
    [property: Id(0)] double CpuUtilization,
    [property: Id(1)] long MemoryBytes,
    [property: Id(2)] long? GpuMemoryBytes,
    [property: Id(3)] double? GpuUtilization,
    [property: Id(4)] long? NetworkBytesSent,
    [property: Id(5)] long? NetworkBytesReceived,
    [property: Id(6)] long DiskBytesAvailable) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "resources.snapshot";
}
