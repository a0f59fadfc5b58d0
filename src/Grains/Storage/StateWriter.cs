using System.Diagnostics;
using Coordinator.Contracts.Errors;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Diagnostics.Metrics;
using Orleans.Storage;

namespace Coordinator.Grains.Storage;

/// <summary>A grain state stamped with the activation that wrote it last (see <see cref="StateWriter{T}"/>).</summary>
public interface IStampedState
{
    /// <summary>The writing activation's stamp; null before the first write.</summary>
    string? Writer { get; set; }
}

/// <summary>
/// Writes one grain state, one write at a time, retrying a failed write with backoff. Changes made to the state while a
/// write is under way are carried by the next one, and a writer finding its change already written does not write
/// again, so a burst of changes costs few writes. A write that failed on the wire may still have landed, which leaves
/// the stored etag ahead of ours: the etag is then refreshed (the state in memory is kept) and the write repeated.
/// The state in memory is the truth; storage catches up with it. Unless another activation wrote meanwhile (two
/// activations of one grain can briefly coexist after a failover): then this one calls <paramref name="superseded"/>
/// (which should deactivate it) and answers Unavailable, and never writes over the other's state.
/// </summary>
internal sealed class StateWriter<T>(IPersistentState<T> state, TimeProvider time, Action superseded)
    where T : IStampedState
{
    private static readonly string StateName = typeof(T).Name;
    private readonly string _stamp = Guid.NewGuid().ToString("N");

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The write under way (or the last one); the next waits for it. Grain calls are single-threaded.</summary>
    private Task _tail = Task.CompletedTask;
    private long _changes;
    private long _written;

    /// <summary>Whether every change made so far has been written.</summary>
    public bool IsWritten => _written == _changes;

    /// <summary>
    /// Applies <paramref name="change"/> to the state in memory, then writes it; gives up after
    /// <paramref name="patience"/> with a retryable <see cref="CoordinatorErrorCode.Unavailable"/> (the change stays in
    /// memory and goes out with the next write).
    /// </summary>
    public Task UpdateAsync(Action<T> change, TimeSpan? patience)
    {
        ArgumentNullException.ThrowIfNull(change);
        change(state.State);
        return WriteAsync(patience);
    }

    /// <summary>
    /// Writes the changes made so far (see <see cref="UpdateAsync"/>); null patience retries until it succeeds. The
    /// calling handler's wait, retries included, counts as storage time (<see cref="CallTimer"/>).
    /// </summary>
    public Task WriteAsync(TimeSpan? patience) => CallTimer.Charge(Awaited.Storage, () => WriteInTurnAsync(patience));

    private async Task WriteInTurnAsync(TimeSpan? patience)
    {
        var mine = ++_changes;
        var giveUpAt = patience is { } p ? time.GetUtcNow() + p : DateTimeOffset.MaxValue;
        var previous = _tail;
        var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _tail = turn.Task;
        await previous;
        try
        {
            var backoff = FirstBackoff;
            var refresh = false;
            while (_written < mine)
            {
                var carrying = _changes;
                try
                {
                    if (refresh)
                    {
                        // The stored etag is not ours. If our own earlier write landed though it reported failure,
                        // take the stored etag and keep our state; if another activation wrote, step down.
                        var current = state.State;
                        await state.ReadStateAsync();
                        if (state.State.Writer is { } writer && writer != _stamp)
                        {
                            state.State = current;
                            superseded();
                            throw CoordinatorException.Unavailable($"Another activation took over this {typeof(T).Name}; retry the call.");
                        }

                        state.State = current;
                        refresh = false;
                    }

                    state.State.Writer = _stamp;
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        await state.WriteStateAsync();
                    }
                    catch
                    {
                        GrainInstruments.StateWritten(StateName, written: false, started);
                        throw;
                    }

                    GrainInstruments.StateWritten(StateName, written: true, started);
                    _written = carrying;
                }
                catch (Exception ex) when (ex is not CoordinatorException)
                {
                    refresh = ex is InconsistentStateException;
                    if (time.GetUtcNow() + backoff > giveUpAt)
                    {
                        throw CoordinatorException.Unavailable(
                            $"The {typeof(T).Name} could not be written ({ex.GetType().Name}: {ex.Message}); the change is kept and "
                            + "written when storage answers. Retry the call.");
                    }

                    await Task.Delay(backoff, time);
                    backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
                }
            }
        }
        finally
        {
            turn.SetResult();
        }
    }
}
