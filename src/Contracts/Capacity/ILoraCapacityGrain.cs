namespace Coordinator.Contracts.Capacity;

/// <summary>
/// The placement registry of one base model (key: base model name). All slot accounting for that base model
/// happens in this one activation, so concurrent placements from any silo can never over-commit a replica.
/// </summary>
public interface ILoraCapacityGrain : IGrainWithStringKey
{
    /// <summary>Adds a replica or updates its capacity; clears draining.</summary>
    Task UpsertReplicaAsync(string replicaId, int capacity);

    /// <summary>Marks a replica as draining (no new grants).</summary>
    Task SetDrainingAsync(string replicaId, bool draining);

    /// <summary>Removes a replica and returns the ids of the models that held slots on it.</summary>
    Task<IReadOnlyList<string>> RemoveReplicaAsync(string replicaId);

    /// <summary>Grants a slot or throws <see cref="Errors.NoCapacityException"/>. Idempotent per model and key.</summary>
    Task<SlotGrant> ReserveAsync(SlotRequest request);

    /// <summary>Releases the model's slot if it is still held under the given key; returns whether one was released.</summary>
    Task<bool> ReleaseAsync(string modelId, string idempotencyKey);

    /// <summary>Current slots of every replica.</summary>
    Task<CapacitySnapshot> GetSnapshotAsync();
}

/// <summary>An index of the base model names that have had replicas (key: 0). Holds names only, no state of theirs.</summary>
public interface IBaseModelIndexGrain : IGrainWithIntegerKey
{
    /// <summary>Adds a name; idempotent.</summary>
    Task AddAsync(string baseModel);

    /// <summary>Lists the names, sorted.</summary>
    Task<IReadOnlyList<string>> ListAsync();
}
