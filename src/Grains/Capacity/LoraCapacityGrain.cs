using System.Diagnostics;
using Coordinator.Grains.Hosting;
using Coordinator.Contracts.Capacity;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Storage;

namespace Coordinator.Grains.Capacity;

/// <summary>Persisted state of a <see cref="LoraCapacityGrain"/>.</summary>
public sealed class LoraCapacityState
{
    public Dictionary<string, ReplicaSlotState> Replicas { get; set; } = [];
}

/// <summary>Slots of one replica: model id -> the idempotency key the slot was granted under.</summary>
public sealed class ReplicaSlotState
{
    public int Capacity { get; set; }
    public bool Draining { get; set; }
    public Dictionary<string, string> Models { get; set; } = [];
}

/// <summary>
/// Slot accounting for one base model. Being a single non-reentrant activation, it serialises every
/// reservation, so the sum of grants on a replica can never exceed its capacity whatever silo callers are on.
/// </summary>
internal sealed class LoraCapacityGrain(
    [PersistentState("capacity", PersistenceSchema.StorageName)] IPersistentState<LoraCapacityState> state)
    : Grain, ILoraCapacityGrain, ICorrelatedGrain
{
    private string BaseModel => this.GetPrimaryKeyString();

    private Dictionary<string, ReplicaSlotState> Replicas => state.State.Replicas;

    public async Task UpsertReplicaAsync(string replicaId, int capacity)
    {
        Require.Id(replicaId, nameof(replicaId));
        Require.Positive(capacity, nameof(capacity));
        Tag(replicaId);
        await state.MutateAsync(s =>
        {
            if (s.Replicas.TryGetValue(replicaId, out var slots))
            {
                // Lowering capacity below use evicts nothing; it only stops new grants until use drops.
                slots.Capacity = capacity;
                slots.Draining = false;
            }
            else
            {
                s.Replicas[replicaId] = new ReplicaSlotState { Capacity = capacity };
            }
        });
    }

    public async Task SetDrainingAsync(string replicaId, bool draining)
    {
        Tag(replicaId);
        if (!Replicas.TryGetValue(replicaId, out var slots))
        {
            throw CoordinatorException.NotFound($"Replica of base model '{BaseModel}'", replicaId);
        }

        if (slots.Draining != draining)
        {
            await state.MutateAsync(_ => slots.Draining = draining);
        }
    }

    public async Task<IReadOnlyList<string>> RemoveReplicaAsync(string replicaId)
    {
        Tag(replicaId);
        if (!Replicas.TryGetValue(replicaId, out var slots))
        {
            return [];
        }

        await state.MutateAsync(s => s.Replicas.Remove(replicaId));
        return [.. slots.Models.Keys];
    }

    public async Task<SlotGrant> ReserveAsync(SlotRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require.Id(request.ModelId, nameof(request.ModelId));
        Require.Id(request.IdempotencyKey, nameof(request.IdempotencyKey));
        Activity.Current?.SetTag(CoordinatorTelemetry.ModelId, request.ModelId);

        // A model holds at most one slot: a retry, or a request racing an earlier grant, gets that slot back.
        foreach (var (id, slots) in Replicas)
        {
            if (slots.Models.TryGetValue(request.ModelId, out var key))
            {
                return new SlotGrant(request.ModelId, id, key);
            }
        }

        var target = PickReplica(request.PreferredReplicaId) ?? throw new NoCapacityException(Snapshot());
        await state.MutateAsync(_ => Replicas[target].Models[request.ModelId] = request.IdempotencyKey);
        Tag(target);
        return new SlotGrant(request.ModelId, target, request.IdempotencyKey);
    }

    public async Task<bool> ReleaseAsync(string modelId, string idempotencyKey)
    {
        foreach (var (id, slots) in Replicas)
        {
            // A stale release (an older placement's key) must not free the slot of a newer placement.
            if (slots.Models.TryGetValue(modelId, out var key) && key == idempotencyKey)
            {
                await state.MutateAsync(_ => slots.Models.Remove(modelId));
                Tag(id);
                return true;
            }
        }

        return false;
    }

    public Task<CapacitySnapshot> GetSnapshotAsync() => Task.FromResult(Snapshot());

    /// <summary>Sticky first (the model's last replica, if it has a free slot), then the replica with the most free slots.</summary>
    private string? PickReplica(string? preferred)
    {
        if (preferred is not null && Replicas.TryGetValue(preferred, out var p) && Free(p) > 0)
        {
            return preferred;
        }

        return Replicas
            .Where(r => Free(r.Value) > 0)
            .OrderByDescending(r => Free(r.Value))
            .ThenBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => r.Key)
            .FirstOrDefault();
    }

    private static int Free(ReplicaSlotState slots) => ReplicaSlots.FreeSlots(slots.Capacity, slots.Models.Count, slots.Draining);

    private CapacitySnapshot Snapshot() => new(
        BaseModel,
        [.. Replicas
            .OrderBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => new ReplicaSlots(r.Key, r.Value.Capacity, r.Value.Models.Count, r.Value.Draining, [.. r.Value.Models.Keys.Order(StringComparer.Ordinal)]))]);

    public IEnumerable<KeyValuePair<string, string?>> Correlation => [new(CoordinatorTelemetry.BaseModel, BaseModel)];

    /// <summary>The replica a call chose or changed: a fact of this call, not of the grain, so tagged here.</summary>
    private static void Tag(string replicaId) => Activity.Current?.SetTag(CoordinatorTelemetry.ReplicaId, replicaId);
}
