using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>
/// Puts the operations of each adapter onto the device queue in the order their sender numbered them. A model grain
/// sends its next operations before the previous ones answer, so the device never waits for a network round trip;
/// grain messages carry no ordering guarantee, so an operation that arrives early waits here for the ones before it.
/// </summary>
internal sealed class OperationSequencer(TimeProvider time)
{
    /// <summary>How long an operation waits for an earlier one of its stream before giving up on it.</summary>
    internal static readonly TimeSpan GapTimeout = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, Line> _lines = new(StringComparer.Ordinal);

    /// <summary>
    /// Starts <paramref name="start"/> (which must enqueue its work before it returns) once every earlier operation of
    /// the stream has been started, and returns its task.
    /// </summary>
    public async Task<OperationOutput> RunAsync(string adapterKey, OperationOrder order, Func<Task<OperationOutput>> start)
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(start);
        if (order.Sequence < 1)
        {
            throw CoordinatorException.InvalidArgument($"Operation sequence must be at least 1 (got {order.Sequence}).");
        }

        var deadline = time.GetUtcNow() + GapTimeout;
        while (true)
        {
            Task<OperationOutput>? started = null;
            Task? turn = null;
            lock (_lines)
            {
                if (!_lines.TryGetValue(adapterKey, out var line) || (line.Stream != order.Stream && order.Sequence == 1))
                {
                    // A new sender (the model grain reactivated, or the adapter was loaded anew) supersedes the old one.
                    line?.Advanced.TrySetResult();
                    line = _lines[adapterKey] = new Line(order.Stream);
                }

                if (line.Stream == order.Stream && order.Sequence < line.Next)
                {
                    throw new CoordinatorException(CoordinatorErrorCode.Conflict,
                        $"Operation {order.Sequence} of stream '{order.Stream}' on adapter '{adapterKey}' was already run.");
                }

                if (line.Stream == order.Stream && order.Sequence == line.Next)
                {
                    line.Next++;
                    var advanced = line.Advanced;
                    line.Advanced = NewSignal();
                    advanced.TrySetResult();

                    // Started under the lock, so operations reach the device queue in sequence order.
                    started = Started(start);
                }
                else
                {
                    turn = line.Advanced.Task;
                }
            }

            if (started is not null)
            {
                return await started;
            }

            var left = deadline - time.GetUtcNow();
            try
            {
                await turn!.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, time);
            }
            catch (TimeoutException)
            {
                throw new CoordinatorException(CoordinatorErrorCode.ReplicaUnavailable,
                    $"Operation {order.Sequence} of stream '{order.Stream}' on adapter '{adapterKey}' waited {GapTimeout} for an earlier operation that never reached the trainer; it did not run.");
            }
        }
    }

    /// <summary>Forgets an adapter's stream (it was unloaded).</summary>
    public void Forget(string adapterKey)
    {
        lock (_lines)
        {
            if (_lines.Remove(adapterKey, out var line))
            {
                line.Advanced.TrySetResult();
            }
        }
    }

    private static Task<OperationOutput> Started(Func<Task<OperationOutput>> start)
    {
        try
        {
            return start();
        }
        catch (Exception ex)
        {
            return Task.FromException<OperationOutput>(ex);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Line(string stream)
    {
        public string Stream { get; } = stream;

        /// <summary>The sequence that may start next.</summary>
        public long Next { get; set; } = 1;

        /// <summary>Completed (and replaced) whenever <see cref="Next"/> moves or the line is superseded.</summary>
        public TaskCompletionSource Advanced { get; set; } = NewSignal();
    }
}
