using Coordinator.Client.Hosting;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace Coordinator.Grains.Models;

/// <summary>
/// The model's operation queue. Submissions are numbered in the order the grain accepts them; a loop on the grain's
/// scheduler sends them to the replica's trainer in that order, up to <see cref="MaxDispatched"/> ahead of their
/// answers (the trainer runs them in sequence, see <see cref="OperationOrder"/>), and finishes them in the same order.
/// So a submission returns at once, callers wait on the ticket, and the trainer's device never idles for a round trip
/// while work is queued. Results live in memory for <c>Models:ResultRetention</c>; a finished status is never replaced.
/// </summary>
internal sealed partial class ModelGrain
{
    /// <summary>
    /// Operations sent to the trainer before the oldest answers. Two keep the device busy (one running, one waiting
    /// there); a few more absorb jitter. More would only lengthen what an unload has to wait for.
    /// </summary>
    internal const int MaxDispatched = 4;

    private readonly Queue<OperationRecord> _queue = new();
    private readonly Queue<Dispatched> _dispatched = new();
    private readonly Dictionary<string, OperationRecord> _operations = new(StringComparer.Ordinal);

    /// <summary>Finished operations in the order they finished: what pruning removes first.</summary>
    private readonly Queue<OperationRecord> _finished = new();
    private readonly string _incarnation = Guid.NewGuid().ToString("N")[..8];
    private long _sequence;
    private int _unfinishedLoads;
    private Task _runner = Task.CompletedTask;
    private TaskCompletionSource _submitted = NewSignal();

    /// <summary>Set while an unload or release stops the queue; interleaved submissions are refused meanwhile.</summary>
    private bool _stopping;

    /// <summary>The placement the last dispatched operation went to, and its number there.</summary>
    private (string? PlacementKey, long Sequence) _stream;

    private OperationOptions Limits => operationOptions.Value;

    public Task<IReadOnlyList<OperationTicket>> SubmitAsync(IReadOnlyList<TrainingOperation> operations) =>
        Task.FromResult<IReadOnlyList<OperationTicket>>([.. Accept(operations).Select(r => r.Ticket)]);

    public async Task<IReadOnlyList<OperationResult>> SubmitAndAwaitAsync(IReadOnlyList<TrainingOperation> operations, TimeSpan timeout)
    {
        CheckTimeout(timeout);
        return await AwaitAsync(Accept(operations), timeout);
    }

    public Task<OperationResult> GetOperationAsync(string operationId) => Task.FromResult(Find(operationId).ToResult());

    public async Task<IReadOnlyList<OperationResult>> AwaitOperationsAsync(IReadOnlyList<string> operationIds, TimeSpan timeout)
    {
        if (operationIds is null || operationIds.Count == 0)
        {
            throw CoordinatorException.InvalidArgument("operationIds must name at least one operation.");
        }

        CheckTimeout(timeout);
        return await AwaitAsync([.. operationIds.Select(Find)], timeout);
    }

    /// <summary>Validates and queues operations, all or none; starts the loop or wakes it.</summary>
    private List<OperationRecord> Accept(IReadOnlyList<TrainingOperation> operations)
    {
        TrainingOperation.ValidateAll(operations);
        EnsureLive();
        if (_stopping)
        {
            throw CoordinatorException.InvalidState($"Model '{ModelId}' is being unloaded; submit again once that finished.");
        }

        // A load_state that has not finished (submitted now, queued or already running) will place the model again first.
        var resuming = operations[0] is LoadStateOperation || _unfinishedLoads > 0;
        if (S.Status is ModelStatus.Unloaded or ModelStatus.Failed && !resuming)
        {
            throw CoordinatorException.InvalidState(
                $"Model '{ModelId}' is {S.Status}{(S.FailureReason is null ? "" : $" ({S.FailureReason})")}: its adapter is no longer loaded. "
                + $"Submit load_state{(S.LastSavedStatePath is null ? "" : $" (last saved: {S.LastSavedStatePath})")} to go on from saved state, or place it again to start from fresh weights.");
        }

        if (_queue.Count + operations.Count > Limits.MaxQueuedOperations)
        {
            throw new CoordinatorException(CoordinatorErrorCode.LimitExceeded,
                $"Model '{ModelId}' already has {_queue.Count} queued operations; {operations.Count} more would pass Models:MaxQueuedOperations ({Limits.MaxQueuedOperations}).");
        }

        Prune();
        var now = time.GetUtcNow();
        var accepted = new List<OperationRecord>(operations.Count);
        foreach (var operation in operations)
        {
            var sequence = ++_sequence;
            var record = new OperationRecord(new OperationTicket(ModelId, $"op-{_incarnation}-{sequence}", operation.Kind, sequence), operation, now);
            _operations[record.Ticket.OperationId] = record;
            _queue.Enqueue(record);
            _unfinishedLoads += operation is LoadStateOperation ? 1 : 0;
            accepted.Add(record);
        }

        DelayDeactivation(Limits.ResultRetention);
        if (_runner.IsCompleted)
        {
            _runner = RunQueueAsync();
        }
        else
        {
            var submitted = _submitted;
            _submitted = NewSignal();
            submitted.TrySetResult();
        }

        return accepted;
    }

    private async Task<IReadOnlyList<OperationResult>> AwaitAsync(IReadOnlyList<OperationRecord> records, TimeSpan timeout)
    {
        var pending = records.Where(r => !r.IsCompleted).ToList();
        if (pending.Count > 0)
        {
            var wait = timeout < IModelGrain.MaxAwait ? timeout : IModelGrain.MaxAwait;
            try
            {
                await Task.WhenAll(pending.Select(r => r.Completion.Task)).WaitAsync(wait, time);
            }
            catch (TimeoutException)
            {
            }
        }

        return [.. records.Select(r => r.ToResult())];
    }

    private static void CheckTimeout(TimeSpan timeout)
    {
        if (timeout < TimeSpan.Zero)
        {
            throw CoordinatorException.InvalidArgument($"timeout must not be negative (got {timeout}).");
        }
    }

    private OperationRecord Find(string operationId)
    {
        Require.Id(operationId, nameof(operationId));
        return _operations.TryGetValue(operationId, out var record)
            ? record
            : throw CoordinatorException.NotFound(
                "Operation", operationId, $"on model '{ModelId}' (results are kept for {Limits.ResultRetention}, and not across a restart of the model's host)");
    }

    /// <summary>
    /// Sends queued operations while fewer than <see cref="MaxDispatched"/> are out, finishes them in order as they
    /// answer, and stops when nothing is queued or out. An operation that needs the adapter placed or loaded first
    /// waits until everything sent before it has finished.
    /// </summary>
    private async Task RunQueueAsync()
    {
        while (true)
        {
            if (_queue.Count > 0 && _dispatched.Count < MaxDispatched)
            {
                var record = _queue.Dequeue();
                record.Status = OperationStatus.Running;
                if (S.Status != ModelStatus.Loaded)
                {
                    while (_dispatched.TryDequeue(out var earlier))
                    {
                        await FinishAsync(earlier);
                    }

                    if (!await PrepareAsync(record))
                    {
                        continue;
                    }
                }

                _dispatched.Enqueue(Dispatch(record));
                continue;
            }

            if (!_dispatched.TryPeek(out var oldest))
            {
                return;
            }

            // Room to send more: finish the oldest when it answers, unless a submission arrives first.
            if (_queue.Count == 0 && _dispatched.Count < MaxDispatched)
            {
                var submitted = _submitted.Task;
                if (await Task.WhenAny(oldest.Call, submitted) == submitted)
                {
                    continue;
                }
            }

            await FinishAsync(_dispatched.Dequeue());
        }
    }

    /// <summary>Places the model and loads its adapter when it has none loaded; false (the operation failed) if that fails.</summary>
    private async Task<bool> PrepareAsync(OperationRecord record)
    {
        try
        {
            EnsureLive();
            if (!HoldsSlot)
            {
                if (S.Status is ModelStatus.Unloaded or ModelStatus.Failed && record.Operation is not LoadStateOperation)
                {
                    throw CoordinatorException.InvalidState($"Model '{ModelId}' is {S.Status} ({S.FailureReason}); submit load_state to go on from saved state.");
                }

                await PlaceCoreAsync();
            }

            if (S.Status == ModelStatus.Placed)
            {
                try
                {
                    await Trainer.LoadAdapterAsync(S.PlacementKey!, S.Lora!);
                }
                catch (CoordinatorException ex) when (ex.Code != CoordinatorErrorCode.ReplicaUnavailable)
                {
                    // The trainer refused the adapter (full, or a conflicting one under the key): give the slot back.
                    await ReleaseSlotAsync(ModelStatus.Failed, $"Loading on replica '{S.ReplicaId}' failed: {ex.Message}");
                    throw;
                }

                var now = time.GetUtcNow();
                await state.MutateAsync(s =>
                {
                    s.Status = ModelStatus.Loaded;
                    s.UpdatedAt = now;
                });
            }

            return true;
        }
        catch (Exception ex)
        {
            Fail(record, ex, S.ReplicaId ?? S.LastReplicaId, S.PlacementKey);
            return false;
        }
    }

    private ITrainerGrain Trainer => GrainFactory.GetGrain<ITrainerGrain>(S.ReplicaId!);

    /// <summary>Sends an operation to the loaded adapter, numbered within this activation's stream for the placement.</summary>
    private Dispatched Dispatch(OperationRecord record)
    {
        var placement = S.PlacementKey!;
        _stream = _stream.PlacementKey == placement ? (placement, _stream.Sequence + 1) : (placement, 1);
        var order = new OperationOrder($"{_incarnation}/{placement}", _stream.Sequence);
        return new Dispatched(record, S.ReplicaId!, placement, Trainer.ExecuteAsync(placement, order, record.Operation));
    }

    /// <summary>Waits for a dispatched operation's answer, records what it changed, and completes it.</summary>
    private async Task FinishAsync(Dispatched sent)
    {
        try
        {
            var output = await sent.Call;
            if (sent.Record.IsCompleted)
            {
                return; // failed meanwhile: its replica was lost
            }

            await RecordOutcomeAsync(sent.Record.Operation, output);
            Complete(sent.Record, OperationStatus.Succeeded, output, null, null);
        }
        catch (Exception ex) when (!sent.Record.IsCompleted)
        {
            Fail(sent.Record, ex, sent.ReplicaId, sent.PlacementKey);
        }
        catch (Exception)
        {
            // Already failed when its replica was lost; this is the dead call ending.
        }
    }

    /// <summary>
    /// Completes an operation as failed. When the trainer could not be reached, the operations queued behind it depend
    /// on an adapter state that is now unknown, so they fail too, unless the model has meanwhile been placed anew
    /// (replica lost, then load_state submitted): those were submitted against the new placement.
    /// </summary>
    private void Fail(OperationRecord record, Exception exception, string? replicaId, string? placementKey)
    {
        var (code, message) = exception is CoordinatorException known
            ? (known.Code, known.Message)
            : (CoordinatorErrorCode.ReplicaUnavailable, $"Trainer of replica '{replicaId}' did not answer {record.Ticket.Kind}: {exception.GetType().Name}: {exception.Message}");
        Complete(record, OperationStatus.Failed, null, code, message);
        LogOperationFailed(ModelId, record.Ticket.OperationId, record.Ticket.Kind, message);
        if (code == CoordinatorErrorCode.ReplicaUnavailable && (placementKey is null || placementKey == S.PlacementKey))
        {
            FailQueued(CoordinatorErrorCode.ReplicaUnavailable, $"an earlier operation ({record.Ticket.OperationId}) could not reach the trainer: {message}");
        }
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

    /// <summary>
    /// Runs an unload or release: refuses submissions meanwhile (waits interleave, so a submission could otherwise
    /// slip in), fails everything queued, waits for what was sent to the trainer, then does <paramref name="stop"/>.
    /// </summary>
    private async Task<ModelInfo> StopAsync(string reason, Func<Task> stop)
    {
        EnsureExists();
        _stopping = true;
        try
        {
            FailQueued(CoordinatorErrorCode.InvalidState, $"{reason} before this operation ran");
            await _runner;
            await stop();
            return ToInfo();
        }
        finally
        {
            _stopping = false;
        }
    }

    private async Task UnloadFromTrainerAsync()
    {
        if (S.Status != ModelStatus.Loaded)
        {
            return;
        }

        try
        {
            await Trainer.UnloadAdapterAsync(S.PlacementKey!);
        }
        catch (Exception ex)
        {
            // The slot is released either way; a trainer that is gone has freed the adapter with its process.
            LogTrainerUnloadFailed(ex, ModelId, S.ReplicaId!);
        }
    }

    private void FailQueued(CoordinatorErrorCode code, string message)
    {
        while (_queue.TryDequeue(out var record))
        {
            Complete(record, OperationStatus.Failed, null, code, message);
        }
    }

    /// <summary>Fails the operations sent to a trainer that is gone; their calls are finished (and ignored) later.</summary>
    private void FailDispatched(string message)
    {
        foreach (var sent in _dispatched)
        {
            Complete(sent.Record, OperationStatus.Failed, null, CoordinatorErrorCode.ReplicaUnavailable, message);
        }
    }

    private void Complete(OperationRecord record, OperationStatus status, OperationOutput? output, CoordinatorErrorCode? code, string? message)
    {
        if (record.Complete(status, output, code, message, time.GetUtcNow()))
        {
            _finished.Enqueue(record);
            _unfinishedLoads -= record.Operation is LoadStateOperation ? 1 : 0;
        }
    }

    /// <summary>Drops finished results past retention, then the oldest finished ones while the count limit is reached.</summary>
    private void Prune()
    {
        var cutoff = time.GetUtcNow() - Limits.ResultRetention;
        while (_finished.TryPeek(out var oldest) && (oldest.CompletedAt < cutoff || _operations.Count >= Limits.MaxRetainedResults))
        {
            _operations.Remove(_finished.Dequeue().Ticket.OperationId);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId} operation {OperationId} ({Kind}) failed: {Error}")]
    private partial void LogOperationFailed(string modelId, string operationId, string kind, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId}: trainer of replica {ReplicaId} did not confirm unloading the adapter")]
    private partial void LogTrainerUnloadFailed(Exception exception, string modelId, string replicaId);

    /// <summary>An operation sent to the trainer: where it went, and the call that answers it.</summary>
    private sealed record Dispatched(OperationRecord Record, string ReplicaId, string PlacementKey, Task<OperationOutput> Call);

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

        public TaskCompletionSource Completion { get; } = NewSignal();

        public bool IsCompleted => Status is OperationStatus.Succeeded or OperationStatus.Failed;

        /// <summary>Completes the operation; false if it already was.</summary>
        public bool Complete(OperationStatus status, OperationOutput? output, CoordinatorErrorCode? code, string? message, DateTimeOffset at)
        {
            if (IsCompleted)
            {
                return false;
            }

            (Status, Output, ErrorCode, ErrorMessage, CompletedAt) = (status, output, code, message, at);
            Completion.TrySetResult();
            return true;
        }

        public OperationResult ToResult() => new(Ticket, Status, Output, ErrorCode, ErrorMessage, submittedAt, CompletedAt);
    }
}
