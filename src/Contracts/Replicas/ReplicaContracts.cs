using Coordinator.Contracts.Errors;

namespace Coordinator.Contracts.Replicas;

/// <summary>Where a trainer replica is in its life.</summary>
public enum ReplicaStatus
{
    /// <summary>Never registered.</summary>
    None = 0,
    /// <summary>Registered and heartbeating; accepts placements.</summary>
    Active = 1,
    /// <summary>Keeps its adapters but accepts no new placements.</summary>
    Draining = 2,
    /// <summary>Missed heartbeats for longer than the timeout; its adapters were released.</summary>
    Dead = 3,
    /// <summary>Left the cluster on purpose; its adapters were released.</summary>
    Deregistered = 4,
}

/// <summary>The device a replica trains on.</summary>
/// <param name="Kind">"cpu" or "cuda".</param>
/// <param name="Name">Device name, such as the GPU model.</param>
/// <param name="MemoryBytes">Total device memory (system memory for CPU).</param>
[GenerateSerializer, Immutable]
public sealed record DeviceDescription(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Name,
    [property: Id(2)] long MemoryBytes);

/// <summary>Request to register a trainer replica.</summary>
[GenerateSerializer, Immutable]
public sealed record RegisterReplicaRequest(
    [property: Id(0)] string BaseModel,
    [property: Id(1)] int LoraCapacity,
    [property: Id(2)] DeviceDescription Device,
    [property: Id(3)] string? Endpoint = null)
{
    /// <summary>Largest LoRA capacity one replica may announce.</summary>
    public const int MaxLoraCapacity = 4096;

    /// <summary>Throws <see cref="CoordinatorException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Require.Id(BaseModel, nameof(BaseModel));
        Require.Positive(LoraCapacity, nameof(LoraCapacity));
        if (LoraCapacity > MaxLoraCapacity)
        {
            throw CoordinatorException.InvalidArgument($"LoraCapacity must be at most {MaxLoraCapacity} (got {LoraCapacity}).");
        }

        if (Device is null)
        {
            throw CoordinatorException.InvalidArgument("Device must be given.");
        }

        Require.Id(Device.Kind, "Device.Kind");
        if (Device.MemoryBytes < 0)
        {
            throw CoordinatorException.InvalidArgument($"Device.MemoryBytes must not be negative (got {Device.MemoryBytes}).");
        }
    }
}

/// <summary>A replica as seen by callers.</summary>
[GenerateSerializer, Immutable]
public sealed record ReplicaInfo(
    [property: Id(0)] string ReplicaId,
    [property: Id(1)] string BaseModel,
    [property: Id(2)] int LoraCapacity,
    [property: Id(3)] DeviceDescription Device,
    [property: Id(4)] string? Endpoint,
    [property: Id(5)] ReplicaStatus Status,
    [property: Id(6)] DateTimeOffset RegisteredAt,
    [property: Id(7)] DateTimeOffset LastHeartbeatAt);
