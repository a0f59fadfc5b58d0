using System.Collections.Concurrent;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Orleans.Concurrency;

namespace Coordinator.Grains.Tests;

/// <summary>
/// Test double of the trainer grain (the real one needs a trainer host process and TorchSharp): records what it is
/// asked, runs the operations of an adapter one at a time in their <see cref="OperationOrder"/> as the real trainer
/// does, and can hold them at a gate so a test decides when they finish. Behaviour is per replica id.
/// </summary>
[Reentrant]
public sealed class TrainerDoubleGrain : Grain, ITrainerGrain
{
    public static readonly ConcurrentDictionary<string, TrainerScript> Scripts = new();

    private TrainerScript Script => Scripts.GetOrAdd(this.GetPrimaryKeyString(), _ => new TrainerScript());

    public Task LoadAdapterAsync(string adapterKey, LoraConfig lora)
    {
        if (adapterKey.Contains("refuse-load", StringComparison.Ordinal))
        {
            throw new CoordinatorException(CoordinatorErrorCode.NoCapacity, "the test double is full");
        }

        Script.Adapters[adapterKey] = 0;
        Script.Log.Enqueue($"load {adapterKey}");
        return Task.CompletedTask;
    }

    public async Task<OperationOutput> ExecuteAsync(string adapterKey, OperationOrder order, TrainingOperation operation)
    {
        var script = Script;
        script.Arrived.Release();
        await script.TurnAsync(adapterKey, order);
        try
        {
            script.Log.Enqueue($"{operation.Kind} {adapterKey}");
            script.Started.Release();
            await script.Gate.Task;
            if (operation is ForwardOperation { Batch.Count: 13 })
            {
                throw CoordinatorException.InvalidArgument("the test double refuses batches of 13");
            }

            var now = DateTimeOffset.UtcNow;
            var timing = new StepTiming(now, now, now);
            return operation switch
            {
                OptimStepOperation => new OperationOutput(OptimStep: new OptimStepResult(++script.Adapters[adapterKey], 1.0, timing)),
                SaveStateOperation save => new OperationOutput(Checkpoint: new CheckpointResult(save.Path, true, script.Adapters[adapterKey], timing)),
                LoadStateOperation load => new OperationOutput(Checkpoint: new CheckpointResult(load.Path, true, 7, timing)),
                _ => new OperationOutput(Forward: new ForwardResult(1.0, 1, timing)),
            };
        }
        finally
        {
            script.EndTurn(adapterKey);
        }
    }

    public Task UnloadAdapterAsync(string adapterKey)
    {
        Script.Adapters.TryRemove(adapterKey, out _);
        Script.Log.Enqueue($"unload {adapterKey}");
        return Task.CompletedTask;
    }
}

/// <summary>What a <see cref="TrainerDoubleGrain"/> does for one replica id.</summary>
public sealed class TrainerScript
{
    /// <summary>Operations wait here; completed by default.</summary>
    public TaskCompletionSource Gate { get; set; } = CompletedGate();

    /// <summary>Released once per operation that reached the trainer, before it waits for its turn.</summary>
    public SemaphoreSlim Arrived { get; } = new(0);

    /// <summary>Released once per operation that started (its turn came).</summary>
    public SemaphoreSlim Started { get; } = new(0);

    public ConcurrentQueue<string> Log { get; } = new();

    public ConcurrentDictionary<string, long> Adapters { get; } = new();

    private readonly Dictionary<string, (string Stream, long Next, bool Busy, TaskCompletionSource Moved)> _turns = new(StringComparer.Ordinal);

    /// <summary>Waits until the operation is next in its stream and no other operation of the adapter runs.</summary>
    public async Task TurnAsync(string adapterKey, OperationOrder order)
    {
        while (true)
        {
            Task moved;
            lock (_turns)
            {
                if (!_turns.TryGetValue(adapterKey, out var turn) || (turn.Stream != order.Stream && order.Sequence == 1 && !turn.Busy))
                {
                    turn = (order.Stream, 1, false, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                }

                if (turn.Stream == order.Stream && turn.Next == order.Sequence && !turn.Busy)
                {
                    _turns[adapterKey] = turn with { Busy = true };
                    return;
                }

                _turns[adapterKey] = turn;
                moved = turn.Moved.Task;
            }

            await moved;
        }
    }

    public void EndTurn(string adapterKey)
    {
        lock (_turns)
        {
            var turn = _turns[adapterKey];
            _turns[adapterKey] = (turn.Stream, turn.Next + 1, false, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            turn.Moved.SetResult();
        }
    }

    public static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }
}
