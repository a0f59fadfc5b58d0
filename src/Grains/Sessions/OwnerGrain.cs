using Coordinator.Client.Hosting;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Sessions;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Sessions;

/// <summary>Persisted state of an <see cref="OwnerGrain"/>.</summary>
public sealed class OwnerState
{
    public List<string> SessionIds { get; set; } = [];
    public HashSet<string> LiveModelIds { get; set; } = [];
}

/// <summary>Sessions and live models of one owner token (keyed by the token's hash).</summary>
internal sealed class OwnerGrain(
    [PersistentState("owner", PersistenceSchema.StorageName)] IPersistentState<OwnerState> state,
    IOptions<SessionOptions> options) : Grain, IOwnerGrain
{
    public async Task AddSessionAsync(string sessionId)
    {
        if (!state.State.SessionIds.Contains(sessionId))
        {
            await state.MutateAsync(s => s.SessionIds.Add(sessionId));
        }
    }

    public Task<IReadOnlyList<string>> ListSessionsAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.SessionIds]);

    public async Task<bool> ReserveModelAsync(string modelId)
    {
        if (state.State.LiveModelIds.Contains(modelId))
        {
            return false;
        }

        var limit = options.Value.MaxModelsPerToken;
        if (state.State.LiveModelIds.Count >= limit)
        {
            throw new CoordinatorException(
                CoordinatorErrorCode.LimitExceeded,
                $"This owner token already holds {state.State.LiveModelIds.Count} live model(s); the limit is {limit} ({SessionOptions.SectionName}:{nameof(SessionOptions.MaxModelsPerToken)}).");
        }

        await state.MutateAsync(s => s.LiveModelIds.Add(modelId));
        return true;
    }

    public async Task ReleaseModelsAsync(IReadOnlyList<string> modelIds)
    {
        if (modelIds.Any(state.State.LiveModelIds.Contains))
        {
            await state.MutateAsync(s => s.LiveModelIds.ExceptWith(modelIds));
        }
    }

    public Task<int> GetModelCountAsync() => Task.FromResult(state.State.LiveModelIds.Count);
}
