using Coordinator.Contracts.Capacity;
using Coordinator.Grains.Storage;

namespace Coordinator.Grains.Capacity;

/// <summary>Persisted state of a <see cref="BaseModelIndexGrain"/>.</summary>
public sealed class BaseModelIndexState
{
    public SortedSet<string> Names { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Names of base models that have had replicas, for listing; the capacity itself lives per base model.</summary>
internal sealed class BaseModelIndexGrain(
    [PersistentState("base-models", PersistenceSchema.StorageName)] IPersistentState<BaseModelIndexState> state)
    : Grain, IBaseModelIndexGrain
{
    public async Task AddAsync(string baseModel)
    {
        if (!state.State.Names.Contains(baseModel))
        {
            await state.MutateAsync(s => s.Names.Add(baseModel));
        }
    }

    public Task<IReadOnlyList<string>> ListAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Names]);
}
