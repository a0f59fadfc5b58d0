using Coordinator.Contracts.Configuration;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace Coordinator.Grains.Models;

/// <summary>
/// The model's operation queue. Submissions are numbered in the order the grain accepts them and run one at a time
/// on the replica's trainer by a loop on the grain's scheduler, so a submission returns at once and callers wait on
/// the ticket. Results live in memory for <c>Models:ResultRetention</c>; a finished status is never replaced.
/// </summary>
internal sealed partial class ModelGrain
{
    private readonly Queue<OperationRecord> _queue = new();
    private readonly Dictionary<string, OperationRecord> _operations = new(StringComparer.Ordinal);
    private readonly string _incarnation = Guid.NewGuid().ToString("N")[..8];
    private long _sequence;
    private Task _runner = Task.CompletedTask;

    /// <summary>The replica and placement the running operation was sent to.</summary>
    private (string? ReplicaId, string? PlacementKey) _runningOn;

    private ModelOperationOptions Limits => operationOptions.Value;

    public Task<OperationTicket> SubmitAsync(TrainingOperation operation)
    {
        if (operation is null)
        {
            throw CoordinatorException.InvalidArgument("Operation must be given.");
        }

        operation.Validate();
        EnsureLive();
        // A load_state that has not finished (queued or already running) will place the model again first.
        var resuming = operation is LoadStateOperation || _operations.Values.Any(o => !o.IsCompleted && o.Operation is LoadStateOperation);
        if (S.Status is ModelStatus.Unloaded or ModelStatus.Failed && !resuming)
        {
            throw CoordinatorException.InvalidState(
                $"Model '{ModelId}' is {S.Status}{(S.FailureReason is null ? "" : $" ({S.FailureReason})")}: its adapter is no longer loaded. "
                + $"Submit load_state{(S.LastSavedStatePath is null ? "" : $" (last saved: {S.LastSavedStatePath})")} to go on from saved state, or place it again to start from fresh weights.");
        }

        if (_queue.Count >= Limits.MaxQueuedOperations)
        {
            throw new CoordinatorException(CoordinatorErrorCode.LimitExceeded, $"Model '{ModelId}' already has {_queue.Count} queued operations (Models:MaxQueuedOperations).");
        }

        Prune();
        var sequence = ++_sequence;
        var ticket = new OperationTicket(ModelId, $"op-{_incarnation}-{sequence}", operation.Kind, sequence);
        var record = new OperationRecord(ticket, operation, time.GetUtcNow());
        _operations[ticket.OperationId] = record;
        _queue.Enqueue(record);
        DelayDeactivation(Limits.ResultRetention);
        if (_runner.IsCompleted)
        {
            _runner = RunQueueAsync();
        }

        return Task.FromResult(ticket);
    }

    public Task<OperationResult> GetOperationAsync(string operationId) => Task.FromResult(Find(operationId).ToResult());

    public async Task<OperationResult> AwaitOperationAsync(string operationId, TimeSpan timeout)
    {
        var record = Find(operationId);
        if (timeout < TimeSpan.Zero)
        {
            throw CoordinatorException.InvalidArgument($"timeout must not be negative (got {timeout}).");
        }

        if (!record.IsCompleted)
        {
            var wait = timeout < IModelGrain.MaxAwait ? timeout : IModelGrain.MaxAwait;
            try
            {
                await record.Completion.Task.WaitAsync(wait, time);
            }
            catch (TimeoutException)
            {
            }
        }

        return record.ToResult();
    }

    private OperationRecord Find(string operationId)
    {
        Require.Id(operationId, nameof(operationId));
        return _operations.TryGetValue(operationId, out var record)
            ? record
            : throw CoordinatorException.NotFound(
                "Operation",
                $"{operationId}' on model '{ModelId}' (results are kept for {Limits.ResultRetention} and not across a restart of the model's host");
    }

    private async Task RunQueueAsync()
    {
        while (_queue.TryDequeue(out var record))
        {
            record.Status = OperationStatus.Running;
            try
            {
                var output = await RunOnTrainerAsync(record.Operation);
                await RecordOutcomeAsync(record.Operation, output);
                record.Complete(OperationStatus.Succeeded, output, null, null, time.GetUtcNow());
            }
            catch (CoordinatorException ex)
            {
                record.Complete(OperationStatus.Failed, null, ex.Code, ex.Message, time.GetUtcNow());
                if (ex.Code == CoordinatorErrorCode.ReplicaUnavailable)
                {
                    FailQueuedOnSamePlacement($"an earlier operation ({record.Ticket.OperationId}) could not reach the trainer: {ex.Message}");
                }
            }
            catch (Exception ex)
            {
                // Not an answer from the trainer: the call itself failed (host gone, timeout).
                var message = $"Trainer of replica '{_runningOn.ReplicaId}' did not answer {record.Ticket.Kind}: {ex.GetType().Name}: {ex.Message}";
                record.Complete(OperationStatus.Failed, null, CoordinatorErrorCode.ReplicaUnavailable, message, time.GetUtcNow());
                FailQueuedOnSamePlacement($"an earlier operation ({record.Ticket.OperationId}) failed: {message}");
            }
            finally
            {
                _runningOn = default;
            }

            if (record.Status == OperationStatus.Failed)
            {
                LogOperationFailed(ModelId, record.Ticket.OperationId, record.Ticket.Kind, record.ErrorMessage!);
            }
        }
    }

    private async Task<OperationOutput> RunOnTrainerAsync(TrainingOperation operation)
    {
        EnsureLive();
        if (!HoldsSlot)
        {
            if (S.Status is ModelStatus.Unloaded or ModelStatus.Failed && operation is not LoadStateOperation)
            {
                throw CoordinatorException.InvalidState($"Model '{ModelId}' is {S.Status} ({S.FailureReason}); submit load_state to go on from saved state.");
            }

            await PlaceCoreAsync();
        }

        _runningOn = (S.ReplicaId, S.PlacementKey);
        var trainer = GrainFactory.GetGrain<ITrainerGrain>(S.ReplicaId!);
        if (S.Status == ModelStatus.Placed)
        {
            try
            {
                await trainer.LoadAdapterAsync(S.PlacementKey!, S.Lora!);
            }
            catch (CoordinatorException ex) when (ex.Code != CoordinatorErrorCode.ReplicaUnavailable)
            {
                // The trainer refused the adapter (full, or a conflicting one under the key): give the slot back.
                await ReleaseSlotAsync(ModelStatus.Failed, $"Loading on replica '{_runningOn.ReplicaId}' failed: {ex.Message}");
                throw;
            }

            var now = time.GetUtcNow();
            await state.MutateAsync(s =>
            {
                s.Status = ModelStatus.Loaded;
                s.UpdatedAt = now;
            });
        }

        return await trainer.ExecuteAsync(S.PlacementKey!, operation);
    }

    /// <summary>Keeps the model's step count and last saved state in its persisted state.</summary>
    private async Task RecordOutcomeAsync(TrainingOperation operation, OperationOutput output)
    {
        var step = output.OptimStep?.Step ?? output.Checkpoint?.Step;
        var saved = operation is SaveStateOperation ? output.Checkpoint?.Path : null;
        if (step is null || (step == S.StepCount && saved is null))
        {
            return;
        }

        var now = time.GetUtcNow();
        await state.MutateAsync(s =>
        {
            s.StepCount = step.Value;
            s.LastSavedStatePath = saved ?? s.LastSavedStatePath;
            s.UpdatedAt = now;
        });
    }

    /// <summary>Fails everything queued, then waits for the running operation to finish.</summary>
    private async Task StopOperationsAsync(string reason)
    {
        FailQueued(CoordinatorErrorCode.InvalidState, $"{reason} before this operation ran");
        await _runner;
    }

    private async Task UnloadFromTrainerAsync()
    {
        if (S.Status != ModelStatus.Loaded)
        {
            return;
        }

        try
        {
            await GrainFactory.GetGrain<ITrainerGrain>(S.ReplicaId!).UnloadAdapterAsync(S.PlacementKey!);
        }
        catch (Exception ex)
        {
            // The slot is released either way; a trainer that is gone has freed the adapter with its process.
            LogTrainerUnloadFailed(ex, ModelId, S.ReplicaId!);
        }
    }

    /// <summary>
    /// After the trainer could not be reached, the operations queued behind depend on an adapter state that is now
    /// unknown, so they fail too; unless the model has meanwhile been placed anew (replica lost, then load_state
    /// submitted): those operations were submitted against the new placement.
    /// </summary>
    private void FailQueuedOnSamePlacement(string message)
    {
        if (_runningOn.PlacementKey is null || _runningOn.PlacementKey == S.PlacementKey)
        {
            FailQueued(CoordinatorErrorCode.ReplicaUnavailable, message);
        }
    }

    private void FailQueued(CoordinatorErrorCode code, string message)
    {
        var now = time.GetUtcNow();
        while (_queue.TryDequeue(out var record))
        {
            record.Complete(OperationStatus.Failed, null, code, message, now);
        }
    }

    /// <summary>Drops finished results past retention, then the oldest finished ones while the count limit is reached.</summary>
    private void Prune()
    {
        var cutoff = time.GetUtcNow() - Limits.ResultRetention;
        var finished = _operations.Values.Where(r => r.IsCompleted).OrderBy(r => r.Ticket.Sequence).ToList();
        foreach (var record in finished.Where(r => r.CompletedAt < cutoff))
        {
            _operations.Remove(record.Ticket.OperationId);
        }

        foreach (var record in finished.Where(r => r.CompletedAt >= cutoff).TakeWhile(_ => _operations.Count >= Limits.MaxRetainedResults))
        {
            _operations.Remove(record.Ticket.OperationId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId} operation {OperationId} ({Kind}) failed: {Error}")]
    private partial void LogOperationFailed(string modelId, string operationId, string kind, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId}: trainer of replica {ReplicaId} did not confirm unloading the adapter")]
    private partial void LogTrainerUnloadFailed(Exception exception, string modelId, string replicaId);

    /// <summary>One submitted operation. Its status only moves forward; the first completion wins.</summary>
    private sealed class OperationRecord(OperationTicket ticket, TrainingOperation operation, DateTimeOffset submittedAt)
    {
        public OperationTicket Ticket { get; } = ticket;

        public TrainingOperation Operation { get; } = operation;

        public OperationStatus Status { get; set; } = OperationStatus.Queued;

        public OperationOutput? Output { get; private set; }

        public CoordinatorErrorCode? ErrorCode { get; private set; }

        public string? ErrorMessage { get; private set; }

        public DateTimeOffset? CompletedAt { get; private set; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsCompleted => Status is OperationStatus.Succeeded or OperationStatus.Failed;

        public void Complete(OperationStatus status, OperationOutput? output, CoordinatorErrorCode? code, string? message, DateTimeOffset at)
        {
            if (IsCompleted)
            {
                return;
            }

            (Status, Output, ErrorCode, ErrorMessage, CompletedAt) = (status, output, code, message, at);
            Completion.TrySetResult();
        }

        public OperationResult ToResult() => new(Ticket, Status, Output, ErrorCode, ErrorMessage, submittedAt, CompletedAt);
    }
}
