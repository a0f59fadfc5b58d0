using Coordinator.Grains.Diagnostics.Latency;

namespace Coordinator.Grains.Storage;

internal static class PersistentStateExtensions
{
    /// <summary>
    /// Applies a change to the state and writes it. If the write fails the in-memory state is reloaded from
    /// storage, so a caller never observes a change that was not persisted. For grains whose changes are rare and
    /// whose callers wait for each one; a grain with bursts of changes on its hot path (the model grain's operation
    /// outcomes) uses <see cref="StateWriter{T}"/>, which merges a burst into few writes and retries instead. The
    /// calling handler's wait counts as storage time (<see cref="CallTimer"/>).
    /// </summary>
    public static Task MutateAsync<T>(this IPersistentState<T> state, Action<T> change) => CallTimer.Charge(Awaited.Storage, async () =>
    {
        change(state.State);
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            await state.ReadStateAsync();
            throw;
        }
    });
}
