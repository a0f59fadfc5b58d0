namespace Coordinator.Grains.Storage;

internal static class PersistentStateExtensions
{
    /// <summary>
    /// Applies a change to the state and writes it. If the write fails the in-memory state is reloaded from
    /// storage, so a caller never observes a change that was not persisted.
    /// </summary>
    public static async Task MutateAsync<T>(this IPersistentState<T> state, Action<T> change)
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
    }
}
