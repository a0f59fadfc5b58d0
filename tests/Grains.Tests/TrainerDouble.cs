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
        return await script.RunOnceAsync(adapterKey, order, () => RunAsync(script, adapterKey, operation));
    }

    private static async Task<OperationOutput> RunAsync(TrainerScript script, string adapterKey, TrainingOperation operation)
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

    public Task<AdapterProgress> GetProgressAsync(string adapterKey, IReadOnlyList<long> sequences)
    {
        var script = Script;
        script.Log.Enqueue($"progress {adapterKey}");
        return script.Adapters.ContainsKey(adapterKey)
            ? Task.FromResult(script.Progress(adapterKey, sequences))
            : throw CoordinatorException.NotFound("Adapter", adapterKey);
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

    private readonly Dictionary<string, Line> _lines = new(StringComparer.Ordinal);

    /// <summary>
    /// Runs an operation once it follows the last one started and no other operation of the adapter runs, as the real
    /// trainer's sequencer and device thread do; an operation sent again gets its first run's outcome.
    /// </summary>
    public async Task<OperationOutput> RunOnceAsync(string adapterKey, OperationOrder order, Func<Task<OperationOutput>> run)
    {
        while (true)
        {
            Task moved;
            lock (_lines)
            {
                if (!_lines.TryGetValue(adapterKey, out var line))
                {
                    line = _lines[adapterKey] = new Line();
                }

                if (line.Runs.TryGetValue(order.Sequence, out var earlier))
                {
                    moved = earlier;
                }
                else if (order.Previous == line.LastStarted && !line.Busy)
                {
                    line.LastStarted = order.Sequence;
                    line.Busy = true;
                    var started = EndTurnAfter(line, run);
                    line.Runs[order.Sequence] = started;
                    moved = started;
                }
                else if (order.Sequence <= line.LastStarted || order.Previous < line.LastStarted)
                {
                    throw new CoordinatorException(CoordinatorErrorCode.Conflict, $"the test double already moved past {order.Sequence}");
                }
                else
                {
                    moved = line.Moved.Task;
                }
            }

            if (moved is Task<OperationOutput> result)
            {
                return await result;
            }

            await moved;
        }
    }

    public AdapterProgress Progress(string adapterKey, IReadOnlyList<long> sequences)
    {
        lock (_lines)
        {
            if (!_lines.TryGetValue(adapterKey, out var line))
            {
                return new AdapterProgress(0, []);
            }

            var outcomes = sequences.Where(s => line.Runs.TryGetValue(s, out var r) && r.IsCompleted).Select(s => line.Runs[s] is { IsCompletedSuccessfully: true } ok
                ? new RecordedOutcome(s, ok.Result, null, null)
                : new RecordedOutcome(s, null, ((CoordinatorException)line.Runs[s].Exception!.InnerException!).Code, line.Runs[s].Exception!.InnerException!.Message));
            return new AdapterProgress(line.LastStarted, [.. outcomes]);
        }
    }

    private async Task<OperationOutput> EndTurnAfter(Line line, Func<Task<OperationOutput>> run)
    {
        await Task.Yield();
        try
        {
            return await run();
        }
        finally
        {
            lock (_lines)
            {
                line.Busy = false;
                var moved = line.Moved;
                line.Moved = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                moved.SetResult();
            }
        }
    }

    private sealed class Line
    {
        public long LastStarted { get; set; }

        public bool Busy { get; set; }

        public Dictionary<long, Task<OperationOutput>> Runs { get; } = [];

        public TaskCompletionSource Moved { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }
}
