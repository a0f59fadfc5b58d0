namespace Coordinator.Contracts.Models;

/// <summary>
/// One LoRA adapter on a base model (key: model id). Non-reentrant, so operations on one adapter run one at a
/// time in the order they arrive.
/// </summary>
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>Initialises the model; called by its session. Repeating it with the same arguments is a no-op.</summary>
    Task<ModelInfo> InitializeAsync(string sessionId, string ownerTokenHash, CreateModelRequest request);

    /// <summary>Returns the model.</summary>
    Task<ModelInfo> GetAsync();

    /// <summary>
    /// Reserves a LoRA slot on a replica of the base model (the last replica first, then the least loaded).
    /// Idempotent: a placed or loaded model returns its current placement.
    /// </summary>
    Task<ModelInfo> PlaceAsync();

    /// <summary>Reports that the adapter is loaded on its replica (called by the replica's trainer).</summary>
    Task<ModelInfo> MarkLoadedAsync(string replicaId);

    /// <summary>Reports that loading or an operation failed; the slot is released.</summary>
    Task<ModelInfo> MarkFailedAsync(string reason);

    /// <summary>Records training progress and the last saved state (called by the trainer).</summary>
    Task<ModelInfo> RecordProgressAsync(long stepCount, string? savedStatePath);

    /// <summary>Unloads the model and releases its slot. Unloading an unplaced model is a no-op.</summary>
    Task<ModelInfo> UnloadAsync();

    /// <summary>Its replica is gone: forget the placement so the model can be placed again.</summary>
    Task<ModelInfo> OnReplicaLostAsync(string replicaId);

    /// <summary>Its session ended: release the slot and become <see cref="ModelStatus.Released"/>.</summary>
    Task<ModelInfo> ReleaseAsync();
}
