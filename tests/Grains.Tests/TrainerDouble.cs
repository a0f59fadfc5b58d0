using System.Collections.Concurrent;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;

namespace Coordinator.Grains.Tests;

/// <summary>
/// Test double of the trainer grain (the real one needs a trainer host process and TorchSharp): records what it is
/// asked, in order, and can hold operations at a gate so a test decides when they finish. Behaviour is per replica id.
/// </summary>
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

    public async Task<OperationOutput> ExecuteAsync(string adapterKey, TrainingOperation operation)
    {
        var script = Script;
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

    /// <summary>Released once per operation that reached the trainer.</summary>
    public SemaphoreSlim Started { get; } = new(0);

    public ConcurrentQueue<string> Log { get; } = new();

    public ConcurrentDictionary<string, long> Adapters { get; } = new();

    public static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }
}
