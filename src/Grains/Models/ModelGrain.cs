using System.Diagnostics;
using Coordinator.Contracts.Capacity;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Telemetry;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Hosting;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;

namespace Coordinator.Grains.Models;

/// <summary>Persisted state of a <see cref="ModelGrain"/>.</summary>
public sealed class ModelState : IStampedState
{
    /// <inheritdoc />
    public string? Writer { get; set; }

    public ModelStatus Status { get; set; }
    public string SessionId { get; set; } = "";
    public string OwnerTokenHash { get; set; } = "";
    public string BaseModel { get; set; } = "";
    public LoraConfig? Lora { get; set; }
    public string? ReplicaId { get; set; }
    public string? LastReplicaId { get; set; }

    /// <summary>Counts placement attempts; names the slot reservation so retries of one attempt are idempotent.</summary>
    public long PlacementGeneration { get; set; }
    public string? PlacementKey { get; set; }
    public long StepCount { get; set; }
    public string? LastSavedStatePath { get; set; }
    public string? FailureReason { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>Every operation up to this sequence has finished, and its outcome was written here (or pruned).</summary>
    public long CompletedThrough { get; set; }

    /// <summary>
    /// Outcomes of finished operations: every one above <see cref="CompletedThrough"/> (finished out of order), and the
    /// last <c>Operations:PersistedResults</c> up to it. What a client can still wait for after a failover.
    /// </summary>
    public List<FinishedOperation> Finished { get; set; } = [];
}

/// <summary>One LoRA adapter: its configuration, owner, placement and progress.</summary>
internal sealed partial class ModelGrain(
    [PersistentState("model", PersistenceSchema.StorageName)] IPersistentState<ModelState> state,
    [PersistentState("operations", PersistenceSchema.StorageName)] IPersistentState<PendingOperationsState> pending,
    [FromKeyedServices(CoordinatorTime.ServiceKey)] TimeProvider time,
    IOptions<OperationOptions> operationOptions,
    Serializer serializer,
    IRunEvents events,
    ILogger<ModelGrain> logger) : Grain, IModelGrain, ICorrelatedGrain
{
    /// <summary>How long a grain call waits for a state write before answering Unavailable (the write goes on).</summary>
    internal static readonly TimeSpan WritePatience = TimeSpan.FromSeconds(2);

    private StateWriter<ModelState>? _modelWriter;
    private StateWriter<PendingOperationsState>? _pendingWriter;

    /// <summary>Writes <see cref="ModelState"/>; an activation superseded by another one deactivates.</summary>
    private StateWriter<ModelState> ModelWriter => _modelWriter ??= new(state, time, DeactivateOnIdle);

    /// <summary>Writes <see cref="PendingOperationsState"/>.</summary>
    private StateWriter<PendingOperationsState> PendingWriter => _pendingWriter ??= new(pending, time, DeactivateOnIdle);

    private string ModelId => this.GetPrimaryKeyString();

    private ModelState Current => state.State;

    private bool HoldsSlot => Current.Status is ModelStatus.Placed or ModelStatus.Loaded;

    private ILoraCapacityGrain Capacity => GrainFactory.GetGrain<ILoraCapacityGrain>(Current.BaseModel);

    public async Task<ModelInfo> InitializeAsync(string sessionId, string ownerTokenHash, CreateModelRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        if (Current.Status != ModelStatus.None)
        {
            var same = Current.SessionId == sessionId && Current.BaseModel == request.BaseModel && Current.Lora is { } lora && lora.SameAs(request.Lora);
            return same
                ? ToInfo()
                : throw new CoordinatorException(CoordinatorErrorCode.Conflict, $"Model '{ModelId}' already exists with other parameters or in another session.");
        }

        var now = time.GetUtcNow();
        await ModelWriter.UpdateAsync(s =>
        {
            s.Status = ModelStatus.Created;
            s.SessionId = sessionId;
            s.OwnerTokenHash = ownerTokenHash;
            s.BaseModel = request.BaseModel;
            s.Lora = request.Lora with { TargetModules = [.. request.Lora.TargetModules] };
            s.CreatedAt = now;
            s.UpdatedAt = now;
        }, WritePatience);
        StatusChanged(ModelStatus.None);
        return ToInfo();
    }

    public Task<ModelInfo> GetAsync()
    {
        EnsureExists();
        return Task.FromResult(ToInfo());
    }

    public async Task<ModelInfo> PlaceAsync()
    {
        EnsureLive();
        if (!HoldsSlot)
        {
            await PlaceCoreAsync();
        }

        return ToInfo();
    }

    private async Task PlaceCoreAsync()
    {
        // The key is derived from the next generation but the generation is only persisted with the grant, so a
        // retry after a failed write asks with the same key and gets the same slot back.
        var key = PlacementKeys.Of(ModelId, Current.PlacementGeneration + 1);
        var grant = await Capacity.ReserveAsync(new SlotRequest(ModelId, key, Current.LastReplicaId));
        var now = time.GetUtcNow();
        var from = Current.Status;
        await ModelWriter.UpdateAsync(s =>
        {
            s.PlacementGeneration++;
            s.PlacementKey = grant.IdempotencyKey;
            s.ReplicaId = grant.ReplicaId;
            s.Status = ModelStatus.Placed;
            s.FailureReason = null;
            s.UpdatedAt = now;
        }, WritePatience);
        StatusChanged(from);
        events.Emit(new ModelPlaced(grant.IdempotencyKey), Tags());
        LogPlaced(ModelId, grant.ReplicaId);
    }

    public Task<ModelInfo> UnloadAsync() => StopAsync("the model was unloaded", async () =>
    {
        if (HoldsSlot)
        {
            await UnloadFromTrainerAsync();
            await ReleaseSlotAsync(ModelStatus.Unloaded, null);
        }
    });

    public async Task<ModelInfo> OnReplicaLostAsync(string replicaId)
    {
        EnsureExists();
        if (HoldsSlot && Current.ReplicaId == replicaId)
        {
            FailQueued(CoordinatorErrorCode.ReplicaUnavailable, $"replica '{replicaId}' was lost before this operation ran");
            FailDispatched($"replica '{replicaId}' was lost while this operation was on it; its effect went with the replica");

            // The capacity registry already dropped the replica with its slots; only the model's view changes.
            var now = time.GetUtcNow();
            var from = Current.Status;
            await FlushAsync(WritePatience, s =>
            {
                s.Status = ModelStatus.Unloaded;
                s.LastReplicaId = s.ReplicaId;
                s.ReplicaId = null;
                s.PlacementKey = null;
                s.FailureReason = $"Replica '{replicaId}' was lost.";
                s.UpdatedAt = now;
            });
            StatusChanged(from, Current.FailureReason);
            LogReplicaLost(ModelId, replicaId);
        }

        return ToInfo();
    }

    public Task<ModelInfo> ReleaseAsync() => StopAsync("its session ended", async () =>
    {
        if (Current.Status != ModelStatus.Released)
        {
            if (HoldsSlot)
            {
                await UnloadFromTrainerAsync();
            }

            await ReleaseSlotAsync(ModelStatus.Released, null);
        }
    });

    private async Task ReleaseSlotAsync(ModelStatus next, string? reason)
    {
        if (HoldsSlot)
        {
            await Capacity.ReleaseAsync(ModelId, Current.PlacementKey!);
        }

        var now = time.GetUtcNow();
        var from = Current.Status;
        await ModelWriter.UpdateAsync(s =>
        {
            s.Status = next;
            s.LastReplicaId = s.ReplicaId ?? s.LastReplicaId;
            s.ReplicaId = null;
            s.PlacementKey = null;
            s.FailureReason = reason;
            s.UpdatedAt = now;
        }, WritePatience);
        StatusChanged(from, reason);
    }

    private void EnsureExists()
    {
        if (Current.Status == ModelStatus.None)
        {
            throw CoordinatorException.NotFound("Model", ModelId);
        }
    }

    private void EnsureLive()
    {
        EnsureExists();
        if (Current.Status == ModelStatus.Released)
        {
            throw new CoordinatorException(CoordinatorErrorCode.SessionEnded, $"Model '{ModelId}' was released because session '{Current.SessionId}' ended.");
        }
    }

    public IEnumerable<KeyValuePair<string, string?>> Correlation =>
    [
        new(CoordinatorTelemetry.ModelId, ModelId),
        new(CoordinatorTelemetry.SessionId, Current.Status == ModelStatus.None ? null : Current.SessionId),
        new(CoordinatorTelemetry.BaseModel, Current.Status == ModelStatus.None ? null : Current.BaseModel),
        new(CoordinatorTelemetry.ReplicaId, Current.ReplicaId),
    ];

    /// <summary>The tags of this model's events.</summary>
    private EventTags Tags(string? operationId = null) =>
        new(SessionId: Current.Status == ModelStatus.None ? null : Current.SessionId, ModelId: ModelId, OperationId: operationId, ReplicaId: Current.ReplicaId);

    /// <summary>Records a change of the model's status, as written.</summary>
    private void StatusChanged(ModelStatus from, string? reason = null)
    {
        if (from != Current.Status)
        {
            events.Emit(new StateChanged(EntityKind.Model, ModelId, from == ModelStatus.None ? null : from.ToString(), Current.Status.ToString(), reason), Tags());
        }
    }

    private ModelInfo ToInfo() => new(
        ModelId, Current.SessionId, Current.BaseModel, Current.Lora!, Current.Status, Current.ReplicaId, Current.LastReplicaId,
        Current.StepCount, Current.LastSavedStatePath, Current.FailureReason, Current.CreatedAt, Current.UpdatedAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {ModelId} placed on replica {ReplicaId}")]
    private partial void LogPlaced(string modelId, string replicaId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId} lost its replica {ReplicaId}; it can be placed again")]
    private partial void LogReplicaLost(string modelId, string replicaId);
}
