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
    /// Queues training operations, in the given order, and returns at once with their tickets; all are accepted or
    /// none. A submission with an <paramref name="idempotencyKey"/> the model has seen returns the original tickets
    /// and runs nothing again (keys are remembered as long as their operations' results are). Accepted operations are
    /// in the model's persisted log before this returns, so they survive a failover of the model's silo. Operations of one model run in the order this method accepted them; the model sends the next ones to the
    /// trainer before the previous ones answer, so a caller that submits ahead keeps the trainer busy. A created model
    /// is placed and loaded by its first operation; a model that lost its replica accepts load_state (which places it
    /// again) and what follows it, nothing else.
    /// </summary>
    Task<IReadOnlyList<OperationTicket>> SubmitAsync(IReadOnlyList<TrainingOperation> operations, string? idempotencyKey);

    /// <summary>
    /// <see cref="SubmitAsync"/> and <see cref="AwaitOperationsAsync"/> in one call (one round trip for a caller that
    /// waits for each operation). Interleaves with the model's other calls, as a wait must; a submission that meets an
    /// unload or release in progress is refused with InvalidState.
    /// </summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<OperationResult>> SubmitAndAwaitAsync(IReadOnlyList<TrainingOperation> operations, string? idempotencyKey, TimeSpan timeout);

    /// <summary>Returns an operation's status, and its result once finished.</summary>
    [AlwaysInterleave]
    Task<OperationResult> GetOperationAsync(string operationId);

    /// <summary>
    /// Waits until every given operation finishes or <paramref name="timeout"/> (at most <see cref="MaxAwait"/>) passes,
    /// then returns their statuses in the given order. Clients wait longer by calling again.
    /// </summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<OperationResult>> AwaitOperationsAsync(IReadOnlyList<string> operationIds, TimeSpan timeout);

    /// <summary>Longest single wait of <see cref="AwaitOperationsAsync"/>; below the default grain call timeout.</summary>
    static TimeSpan MaxAwait => TimeSpan.FromSeconds(20);
}
