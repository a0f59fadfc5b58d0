using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>
/// Starts the operations of each adapter in the order their model numbered them, each at most once. A model grain
/// sends its next operations before the previous ones answer, so the device never waits for a network round trip;
/// grain messages carry no ordering guarantee, so an operation that arrives before the one it follows
/// (<see cref="OperationOrder.Previous"/>) waits here for it. An operation that arrives again (the model grain failed
/// over and re-sent what it had not seen finish) is not started again: the caller gets the first run's outcome.
/// </summary>
internal sealed class OperationSequencer(TimeProvider time)
{
    /// <summary>How long an operation waits for the one it follows before giving up on it.</summary>
    internal static readonly TimeSpan GapTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Outcomes kept per adapter for operations sent again. A model grain has at most a few operations out, and
    /// re-sends only those it had not recorded finished, so this is far more than a failover needs.
    /// </summary>
    internal const int KeptOutcomes = 256;

    private readonly Dictionary<string, Line> _lines = new(StringComparer.Ordinal);

    /// <summary>
    /// Starts <paramref name="start"/> (which must enqueue its work before it returns) once the operation it follows
    /// has started, and returns its task; for an operation already started, returns that run's task.
    /// </summary>
    public async Task<OperationOutput> RunAsync(string adapterKey, OperationOrder order, Func<Task<OperationOutput>> start)
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(start);
        if (order.Sequence < 1 || order.Previous < 0 || order.Previous >= order.Sequence)
        {
            throw CoordinatorException.InvalidArgument(
                $"Operation order must have 0 <= previous < sequence and sequence >= 1 (got sequence {order.Sequence}, previous {order.Previous}).");
        }

        var deadline = time.GetUtcNow() + GapTimeout;
        while (true)
        {
            Task<OperationOutput>? run = null;
            Task? turn = null;
            lock (_lines)
            {
                var line = LineOf(adapterKey);
                if (line.Runs.TryGetValue(order.Sequence, out var earlier))
                {
                    run = earlier;
                }
                else if (order.Sequence <= line.LastStarted)
                {
                    throw new CoordinatorException(CoordinatorErrorCode.Conflict,
                        $"Operation {order.Sequence} on adapter '{adapterKey}' was started before (the adapter is at {line.LastStarted}) and its outcome is no longer kept.");
                }
                else if (order.Previous == line.LastStarted)
                {
                    // Started under the lock, so operations reach the device queue in sequence order.
                    run = line.Start(order.Sequence, Started(start));
                }
                else if (order.Previous < line.LastStarted)
                {
                    throw new CoordinatorException(CoordinatorErrorCode.Conflict,
                        $"Operation {order.Sequence} on adapter '{adapterKey}' follows {order.Previous}, but the adapter has since started {line.LastStarted}; it did not run.");
                }
                else
                {
                    turn = line.Advanced.Task;
                }
            }

            if (run is not null)
            {
                return await run;
            }

            var left = deadline - time.GetUtcNow();
            try
            {
                await turn!.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, time);
            }
            catch (TimeoutException)
            {
                throw new CoordinatorException(CoordinatorErrorCode.ReplicaUnavailable,
                    $"Operation {order.Sequence} on adapter '{adapterKey}' waited {GapTimeout} for operation {order.Previous}, which never reached the trainer; it did not run.");
            }
        }
    }

    /// <summary>The last sequence started on the adapter, and the runs of <paramref name="sequences"/> that finished.</summary>
    public (long LastStarted, IReadOnlyList<(long Sequence, Task<OperationOutput> Run)> Finished) Progress(string adapterKey, IReadOnlyList<long> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        lock (_lines)
        {
            var line = LineOf(adapterKey);
            var finished = sequences
                .Where(s => line.Runs.TryGetValue(s, out var run) && run.IsCompleted)
                .Select(s => (s, line.Runs[s]))
                .ToList();
            return (line.LastStarted, finished);
        }
    }

    /// <summary>Forgets an adapter's operations (it was unloaded).</summary>
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

    private Line LineOf(string adapterKey)
    {
        if (!_lines.TryGetValue(adapterKey, out var line))
        {
            line = _lines[adapterKey] = new Line();
        }

        return line;
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

    private sealed class Line
    {
        /// <summary>The sequence of the operation started last; 0 before the first.</summary>
        public long LastStarted { get; private set; }

        /// <summary>The runs of the last <see cref="KeptOutcomes"/> operations started, by sequence.</summary>
        public SortedDictionary<long, Task<OperationOutput>> Runs { get; } = [];

        /// <summary>Completed (and replaced) whenever an operation starts or the line is forgotten.</summary>
        public TaskCompletionSource Advanced { get; private set; } = NewSignal();

        public Task<OperationOutput> Start(long sequence, Task<OperationOutput> run)
        {
            LastStarted = sequence;
            Runs[sequence] = run;
            while (Runs.Count > KeptOutcomes)
            {
                Runs.Remove(Runs.Keys.First());
            }

            var advanced = Advanced;
            Advanced = NewSignal();
            advanced.TrySetResult();
            return run;
        }
    }
}
