using Coordinator.Contracts.Training;
using Orleans.Concurrency;

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

    /// <summary>Unloads the model and releases its slot. Unloading an unplaced model is a no-op.</summary>
    Task<ModelInfo> UnloadAsync();

    /// <summary>Its replica is gone: forget the placement so the model can be placed again.</summary>
    Task<ModelInfo> OnReplicaLostAsync(string replicaId);

    /// <summary>Its session ended: release the slot and become <see cref="ModelStatus.Released"/>.</summary>
    Task<ModelInfo> ReleaseAsync();

    /// <summary>
    /// Queues a training operation and returns at once with its ticket. Operations of one model run one at a time in
    /// the order this method accepted them. A created model is placed and loaded by its first operation; a model that
    /// lost its replica accepts load_state (which places it again) and what follows it, nothing else.
    /// </summary>
    Task<OperationTicket> SubmitAsync(TrainingOperation operation);

    /// <summary>Returns an operation's status, and its result once finished.</summary>
    [AlwaysInterleave]
    Task<OperationResult> GetOperationAsync(string operationId);

    /// <summary>
    /// Waits until the operation finishes or <paramref name="timeout"/> (at most <see cref="MaxAwait"/>) passes, then
    /// returns its status. Clients wait longer by calling again.
    /// </summary>
    [AlwaysInterleave]
    Task<OperationResult> AwaitOperationAsync(string operationId, TimeSpan timeout);

    /// <summary>Longest single wait of <see cref="AwaitOperationAsync"/>; below the default grain call timeout.</summary>
    static TimeSpan MaxAwait => TimeSpan.FromSeconds(20);
}
