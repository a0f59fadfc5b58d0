namespace Coordinator.Contracts.Capacity;

/// <summary>A request for one LoRA slot.</summary>
/// <param name="ModelId">The model that needs the slot; a model never holds more than one.</param>
/// <param name="IdempotencyKey">Names this placement attempt; a retry with the same key gets the same answer, and a release must name it.</param>
/// <param name="PreferredReplicaId">Where the model was last (sticky placement), if anywhere.</param>
[GenerateSerializer, Immutable]
public sealed record SlotRequest(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string IdempotencyKey,
    [property: Id(2)] string? PreferredReplicaId = null);

/// <summary>A granted slot.</summary>
[GenerateSerializer, Immutable]
public sealed record SlotGrant(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string ReplicaId,
    [property: Id(2)] string IdempotencyKey);

/// <summary>Slots of one replica.</summary>
[GenerateSerializer, Immutable]
public sealed record ReplicaSlots(
    [property: Id(0)] string ReplicaId,
    [property: Id(1)] int Capacity,
    [property: Id(2)] int Used,
    [property: Id(3)] bool Draining,
    [property: Id(4)] IReadOnlyList<string> ModelIds)
{
    /// <summary>Slots that can still be granted (none while draining).</summary>
    public int Free => FreeSlots(Capacity, Used, Draining);

    /// <summary>Slots a replica can still grant: none while draining, never below zero (capacity may be lowered below use).</summary>
    public static int FreeSlots(int capacity, int used, bool draining) => draining ? 0 : Math.Max(0, capacity - used);
}

/// <summary>The capacity of one base model across its replicas.</summary>
[GenerateSerializer, Immutable]
public sealed record CapacitySnapshot(
    [property: Id(0)] string BaseModel,
    [property: Id(1)] IReadOnlyList<ReplicaSlots> Replicas)
{
    /// <summary>Sum of capacities.</summary>
    public int TotalCapacity => Replicas.Sum(r => r.Capacity);

    /// <summary>Sum of used slots.</summary>
    public int TotalUsed => Replicas.Sum(r => r.Used);

    /// <summary>Slots that can still be granted.</summary>
    public int TotalFree => Replicas.Sum(r => r.Free);
}
