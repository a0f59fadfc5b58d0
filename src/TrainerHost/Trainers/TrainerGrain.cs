using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Models;
using Coordinator.Events.Emitting;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Hosting;
using Coordinator.TrainerHost.Diagnostics.Metrics;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>
/// The trainer side of this host's replica. Reentrant: operations queue on the engine's device thread, those of one
/// adapter in the order its model grain numbered them (<see cref="OperationSequencer"/>), which sends them ahead.
/// </summary>
[TrainerPlacement]
[Reentrant]
internal sealed partial class TrainerGrain(
    TrainerRuntime runtime, OperationSequencer sequencer, IRunEvents events, TrainerInstruments instruments, TimeProvider time, ILogger<TrainerGrain> logger)
    : Grain, ITrainerGrain, ICorrelatedGrain
{
    public IEnumerable<KeyValuePair<string, string?>> Correlation => [new(CoordinatorTelemetry.ReplicaId, runtime.ReplicaId)];

    public async Task LoadAdapterAsync(string adapterKey, LoraConfig lora)
    {
        Require.Id(adapterKey, nameof(adapterKey));
        var engine = runtime.Engine;
        var loaded = engine.Adapters;
        if (!loaded.Contains(adapterKey) && loaded.Count >= runtime.Options.LoraCapacity)
        {
            throw new CoordinatorException(CoordinatorErrorCode.NoCapacity, $"Trainer '{runtime.ReplicaId}' already holds {loaded.Count} adapters (Trainer:LoraCapacity).");
        }

        await engine.CreateAdapterAsync(adapterKey, lora);
        events.Emit(new AdapterLoaded(adapterKey), Tags(adapterKey));
        LogAdapterLoaded(adapterKey, runtime.ReplicaId);
    }

    public async Task<OperationOutput> ExecuteAsync(string adapterKey, OperationOrder order, TrainingOperation operation)
    {
        Require.Id(adapterKey, nameof(adapterKey));
        ArgumentNullException.ThrowIfNull(operation);
        var engine = runtime.Engine;
        var arrivedAt = time.GetUtcNow();
        // The handler filter took the call's stamp out of its context (and is measuring it when anything listens).
        var sentAt = CallTimer.Current?.Sent;
        try
        {
            // The handler waits on the device: the trainer's part of its time, not its own thread's.
            OperationOutput? output = null;
            await CallTimer.Charge(Awaited.Trainer, async () => output = await sequencer.RunAsync(
                adapterKey, order, () => RecordedAsync(adapterKey, order.Sequence, operation, sentAt, arrivedAt, engine.ExecuteAsync(adapterKey, operation))));
            if (output?.Timing is { } timing)
            {
                CallTimer.Current?.AddTrainerTiming(timing.QueueTime, timing.ComputeTime);
            }

            return output!;
        }
        catch (Exception ex) when (ex is not CoordinatorException)
        {
            LogOperationError(ex, operation.Kind, adapterKey);
            throw Failure(ex);
        }
    }

    public Task<AdapterProgress> GetProgressAsync(string adapterKey, IReadOnlyList<long> sequences)
    {
        Require.Id(adapterKey, nameof(adapterKey));
        ArgumentNullException.ThrowIfNull(sequences);
        if (!runtime.Engine.Adapters.Contains(adapterKey))
        {
            throw CoordinatorException.NotFound("Adapter", adapterKey, $"on trainer '{runtime.ReplicaId}'");
        }

        var (lastStarted, finished) = sequencer.Progress(adapterKey, sequences);
        var outcomes = finished.Select(f => f.Run.IsCompletedSuccessfully
            ? new RecordedOutcome(f.Sequence, f.Run.Result, null, null)
            : Failure(f.Run.Exception!.InnerException!) is var failure
                ? new RecordedOutcome(f.Sequence, null, failure.Code, failure.Message)
                : null!);
        return Task.FromResult(new AdapterProgress(lastStarted, [.. outcomes]));
    }

    /// <summary>Records an operation's run (once: a repeat is answered by the sequencer without running) as training events and metrics.</summary>
    private async Task<OperationOutput> RecordedAsync(
        string adapterKey, long sequence, TrainingOperation operation, DateTimeOffset? sentAt, DateTimeOffset arrivedAt, Task<OperationOutput> run)
    {
        var tags = Tags(adapterKey, sequence);
        events.Emit(new TrainingStarted(operation.Kind), tags);
        try
        {
            var output = await run;
            var timing = output.Timing;
            if (timing is not null)
            {
                instruments.Ran(operation, sentAt, arrivedAt, timing);
            }

            instruments.Trained(PlacementKeys.ModelOf(adapterKey), output);

            events.Emit(new TrainingFinished(operation.Kind, output.Forward?.Loss, timing?.ComputeTime ?? TimeSpan.Zero, null), tags);
            if (output.Checkpoint is { } checkpoint)
            {
                var duration = timing?.ComputeTime ?? TimeSpan.Zero;
                events.Emit(operation is SaveStateOperation
                    ? new CheckpointWritten(checkpoint.Path, File.Exists(checkpoint.Path) ? new FileInfo(checkpoint.Path).Length : 0, checkpoint.Step, duration)
                    : new CheckpointRead(checkpoint.Path, checkpoint.Step, duration), tags);
            }

            return output;
        }
        catch (Exception ex)
        {
            events.Emit(new TrainingFinished(operation.Kind, null, TimeSpan.Zero, ex.Message), tags);
            throw;
        }
    }

    private EventTags Tags(string adapterKey, long? sequence = null)
    {
        var modelId = PlacementKeys.ModelOf(adapterKey);
        return new EventTags(ModelId: modelId, OperationId: sequence is { } s ? OperationIds.Of(modelId, s) : null, ReplicaId: runtime.ReplicaId);
    }

    /// <summary>
    /// A torch error (out of memory, a native failure) is the operation's failure, not the caller's input: reported as
    /// such with the original message; the process and its other adapters carry on.
    /// </summary>
    private CoordinatorException Failure(Exception exception) => exception as CoordinatorException
        ?? CoordinatorException.InvalidState($"Trainer '{runtime.ReplicaId}' failed the operation: {exception.GetType().Name}: {exception.Message}");

    public async Task UnloadAdapterAsync(string adapterKey)
    {
        sequencer.Forget(adapterKey);
        if (await runtime.Engine.RemoveAdapterAsync(adapterKey))
        {
            events.Emit(new AdapterUnloaded(adapterKey), Tags(adapterKey));
            instruments.Unloaded(PlacementKeys.ModelOf(adapterKey));
            LogAdapterUnloaded(adapterKey, runtime.ReplicaId);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Adapter {AdapterKey} loaded on trainer {ReplicaId}")]
    private partial void LogAdapterLoaded(string adapterKey, string replicaId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Adapter {AdapterKey} unloaded from trainer {ReplicaId}")]
    private partial void LogAdapterUnloaded(string adapterKey, string replicaId);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Kind} on adapter {AdapterKey} failed inside the trainer")]
    private partial void LogOperationError(Exception exception, string kind, string adapterKey);
}
