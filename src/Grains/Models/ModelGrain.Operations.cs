using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Coordinator.Grains.Models;

/// <summary>
/// The model's operation log and queue. Each operation takes effect once, whatever fails in between:
/// <list type="bullet">
/// <item>Accepted operations are numbered and written to the model's pending log (<see cref="PendingOperationsState"/>)
/// before their tickets are returned; a submission repeated with its idempotency key gets the same tickets.</item>
/// <item>A loop on the grain's scheduler sends them to the replica's trainer in sequence order, up to
/// <see cref="MaxDispatched"/> ahead of their answers; the trainer starts them in that order and each at most once
/// (<see cref="OperationOrder"/>).</item>
/// <item>Outcomes are written to the model's state (with the step count they change) before anyone is told, so a
/// finished status never changes, not even across a failover.</item>
/// <item>A model that reactivates (its silo died) reloads its log, asks the trainer what it ran
/// (<see cref="ITrainerGrain.GetProgressAsync"/>), takes those outcomes, and runs the rest.</item>
/// <item>A failed state write is retried with backoff until storage answers; meanwhile outcomes wait, and submissions
/// answer with the retryable Unavailable.</item>
/// </list>
/// Results stay readable in memory for <c>Operations:ResultRetention</c>; across a failover, the last
/// <c>Operations:PersistedResults</c>.
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
    private readonly Dictionary<string, List<OperationRecord>> _byKey = new(StringComparer.Ordinal);

    /// <summary>Sequences accepted and not yet finished (staged outcomes count as finished).</summary>
    private readonly SortedSet<long> _open = [];

    /// <summary>Operations not yet published (queued, running, or staged and not yet written), by sequence: the pending log.</summary>
    private readonly SortedDictionary<long, OperationRecord> _unpublished = [];

    /// <summary>Outcomes decided but not yet written: published (waiters told) once they are.</summary>
    private readonly List<OperationRecord> _staged = [];

    /// <summary>Finished operations in the order they finished: what pruning removes first.</summary>
    private readonly Queue<OperationRecord> _finished = new();

    /// <summary>Finished operations whose outcome is in <see cref="ModelState.Finished"/>, by sequence.</summary>
    private readonly SortedDictionary<long, OperationRecord> _persisted = [];

    private long _sequence;

    /// <summary>Every operation up to this sequence is in the pending log in storage.</summary>
    private long _acceptedThrough;
    private int _unfinishedLoads;
    private Task _runner = Task.CompletedTask;
    private TaskCompletionSource _submitted = NewSignal();

    /// <summary>Set while an unload or release stops the queue; interleaved submissions are refused meanwhile.</summary>
    private bool _stopping;

    /// <summary>Ask the trainer where the adapter stands before the first dispatch of this activation.</summary>
    private bool _reconcile = true;

    /// <summary>The placement the last operation was sent to, and its sequence.</summary>
    private (string? PlacementKey, long Sequence) _lastSent;

    private OperationOptions Limits => operationOptions.Value;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Restore();
        return base.OnActivateAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<OperationTicket>> SubmitAsync(IReadOnlyList<TrainingOperation> operations, string? idempotencyKey)
    {
        var accepted = await AcceptAsync(operations, idempotencyKey);
        Received(accepted, nameof(SubmitAsync));
        return [.. accepted.Select(r => r.Ticket)];
    }

    public async Task<IReadOnlyList<OperationResult>> SubmitAndAwaitAsync(IReadOnlyList<TrainingOperation> operations, string? idempotencyKey, TimeSpan timeout)
    {
        CheckTimeout(timeout);
        var accepted = await AcceptAsync(operations, idempotencyKey);
        Received(accepted, nameof(SubmitAndAwaitAsync));
        return await AwaitAsync(accepted, timeout, nameof(SubmitAndAwaitAsync));
    }

    /// <summary>Counts the bytes of operations <paramref name="method"/> accepted: their encoding in the pending log, made anyway.</summary>
    private void Received(List<OperationRecord> accepted, string method) =>
        HandlerInstruments.RequestBytes(nameof(ModelGrain), method, accepted.Sum(r => r.Operation is null ? 0L : r.Payload(serializer).Length));

    public Task<OperationResult> GetOperationAsync(string operationId) => Task.FromResult(Answer(Find(operationId), nameof(GetOperationAsync)));

    public async Task<IReadOnlyList<OperationResult>> AwaitOperationsAsync(IReadOnlyList<string> operationIds, TimeSpan timeout)
    {
        if (operationIds is null || operationIds.Count == 0)
        {
            throw CoordinatorException.InvalidArgument("operationIds must name at least one operation.");
        }

        CheckTimeout(timeout);
        return await AwaitAsync([.. operationIds.Select(Find)], timeout, nameof(AwaitOperationsAsync));
    }

    /// <summary>
    /// Validates and queues operations, all or none, writes them to the pending log, and starts the loop or wakes it.
    /// A known idempotency key returns the operations it was first given to.
    /// </summary>
    private async Task<List<OperationRecord>> AcceptAsync(IReadOnlyList<TrainingOperation> operations, string? idempotencyKey)
    {
        TrainingOperation.ValidateAll(operations);
        if (idempotencyKey is not null)
        {
            Require.Id(idempotencyKey, nameof(idempotencyKey));
            if (_byKey.TryGetValue(idempotencyKey, out var earlier))
            {
                if (earlier.Count != operations.Count || earlier.Where((r, i) => r.Ticket.Kind != operations[i].Kind).Any())
                {
                    throw new CoordinatorException(CoordinatorErrorCode.Conflict,
                        $"Idempotency key '{idempotencyKey}' was used on model '{ModelId}' for other operations ({string.Join(", ", earlier.Select(r => r.Ticket.Kind))}).");
                }

                await PersistAcceptedAsync(WritePatience);
                return earlier;
            }
        }

        EnsureLive();
        if (_stopping)
        {
            throw CoordinatorException.InvalidState($"Model '{ModelId}' is being unloaded; submit again once that finished.");
        }

        // A load_state that has not finished (submitted now, queued or already running) will place the model again first.
        var resuming = operations[0] is LoadStateOperation || _unfinishedLoads > 0;
        if (Current.Status is ModelStatus.Unloaded or ModelStatus.Failed && !resuming)
        {
            throw CoordinatorException.InvalidState(
                $"Model '{ModelId}' is {Current.Status}{(Current.FailureReason is null ? "" : $" ({Current.FailureReason})")}: its adapter is no longer loaded. "
                + $"Submit load_state{(Current.LastSavedStatePath is null ? "" : $" (last saved: {Current.LastSavedStatePath})")} to go on from saved state, or place it again to start from fresh weights.");
        }

        if (_queue.Count + operations.Count > Limits.MaxQueuedOperations)
        {
            throw new CoordinatorException(CoordinatorErrorCode.LimitExceeded,
                $"Model '{ModelId}' already has {_queue.Count} queued operations; {operations.Count} more would pass {OperationOptions.SectionName}:MaxQueuedOperations ({Limits.MaxQueuedOperations}).");
        }

        Prune();
        var now = time.GetUtcNow();
        var accepted = new List<OperationRecord>(operations.Count);
        foreach (var operation in operations)
        {
            var sequence = ++_sequence;
            var ticket = new OperationTicket(ModelId, OperationIds.Of(ModelId, sequence), operation.Kind, sequence);
            accepted.Add(Open(new OperationRecord(ticket, operation, now, idempotencyKey)));
            events.Emit(new OperationSubmitted(operation.Kind, sequence, idempotencyKey), Tags(ticket.OperationId));
        }

        if (idempotencyKey is not null)
        {
            _byKey[idempotencyKey] = accepted;
        }

        DelayDeactivation(Limits.ResultRetention);
        try
        {
            await PersistAcceptedAsync(WritePatience);
        }
        finally
        {
            // Even unwritten, they are queued: the loop writes them before it sends them, and a retry with the key finds them.
            Wake();
        }

        return accepted;
    }

    private OperationRecord Open(OperationRecord record)
    {
        _operations[record.Ticket.OperationId] = record;
        _queue.Enqueue(record);
        _open.Add(record.Sequence);
        _unpublished[record.Sequence] = record;
        _unfinishedLoads += record.Operation is LoadStateOperation ? 1 : 0;
        return record;
    }

    private void Wake()
    {
        if (_runner.IsCompleted)
        {
            // The loop outlives the call that starts it: its waits are not that call's.
            using (CallTimer.Detach())
            {
                _runner = RunAsync();
            }
        }
        else
        {
            var submitted = _submitted;
            _submitted = NewSignal();
            submitted.TrySetResult();
        }
    }

    /// <summary>Writes the pending log unless it already holds everything accepted.</summary>
    private async Task PersistAcceptedAsync(TimeSpan? patience)
    {
        var through = _sequence;
        if (_acceptedThrough >= through)
        {
            return;
        }

        pending.State.LastSequence = through;
        // Every operation whose outcome is not yet written, staged ones included: dropped from here before its outcome
        // is in the model's state, a crash in between would lose it.
        pending.State.Operations = [.. _unpublished.Values
            .Select(r => new PendingOperation
            {
                OperationId = r.Ticket.OperationId,
                Sequence = r.Sequence,
                Kind = r.Ticket.Kind,
                IdempotencyKey = r.IdempotencyKey,
                SubmittedAt = r.SubmittedAt,
                Operation = r.Payload(serializer),
            })];
        await PendingWriter.WriteAsync(patience);
        _acceptedThrough = Math.Max(_acceptedThrough, through);
    }

    /// <summary>Rebuilds the log from storage on activation; unfinished operations are queued to be reconciled and run.</summary>
    private void Restore()
    {
        foreach (var entry in Current.Finished.OrderBy(f => f.Sequence))
        {
            var output = entry.Output is null ? null : serializer.Deserialize<OperationOutput>(entry.Output);
            var record = OperationRecord.Finished(new OperationTicket(ModelId, entry.OperationId, entry.Kind, entry.Sequence), entry, output);
            _operations[entry.OperationId] = record;
            _finished.Enqueue(record);
            _persisted[record.Sequence] = record;
            Index(record);
        }

        _sequence = Math.Max(pending.State.LastSequence, Math.Max(Current.CompletedThrough, Current.Finished.Count == 0 ? 0 : Current.Finished.Max(f => f.Sequence)));
        foreach (var entry in pending.State.Operations.OrderBy(p => p.Sequence))
        {
            if (entry.Sequence <= Current.CompletedThrough || _operations.ContainsKey(entry.OperationId))
            {
                continue;
            }

            var operation = serializer.Deserialize<TrainingOperation>(entry.Operation);
            var record = Open(new OperationRecord(new OperationTicket(ModelId, entry.OperationId, entry.Kind, entry.Sequence), operation, entry.SubmittedAt, entry.IdempotencyKey));
            Index(record);
        }

        foreach (var records in _byKey.Values)
        {
            records.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        }

        _acceptedThrough = _sequence;
        if (_queue.Count > 0)
        {
            LogRecovered(ModelId, _queue.Count, _queue.Peek().Sequence);
            DelayDeactivation(Limits.ResultRetention);
            Wake();
        }
    }

    private void Index(OperationRecord record)
    {
        if (record.IdempotencyKey is { } key)
        {
            if (!_byKey.TryGetValue(key, out var records))
            {
                _byKey[key] = records = [];
            }

            records.Add(record);
        }
    }

    private async Task<IReadOnlyList<OperationResult>> AwaitAsync(IReadOnlyList<OperationRecord> records, TimeSpan timeout, string method)
    {
        var pendingRecords = records.Where(r => !r.IsCompleted).ToList();
        if (pendingRecords.Count > 0)
        {
            var wait = timeout < IModelGrain.MaxAwait ? timeout : IModelGrain.MaxAwait;
            var timer = CallTimer.Current;
            timer?.Enter(Awaited.Trainer);
            try
            {
                await Task.WhenAll(pendingRecords.Select(r => r.Completion.Task)).WaitAsync(wait, time);
            }
            catch (TimeoutException)
            {
            }
            finally
            {
                timer?.Leave(Awaited.Trainer);
            }

            foreach (var timing in pendingRecords.Select(r => r.ToResult().Output?.Timing).OfType<StepTiming>())
            {
                timer?.AddTrainerTiming(timing.QueueTime, timing.ComputeTime);
            }
        }

        return [.. records.Select(r => Answer(r, method))];
    }

    /// <summary>
    /// What a caller is told of <paramref name="record"/> through <paramref name="method"/>; the first time that is its
    /// outcome, the time since its submission is the operation's time to first response (a caller long-polls for it).
    /// </summary>
    private OperationResult Answer(OperationRecord record, string method)
    {
        if (record.IsCompleted && !record.Answered)
        {
            record.Answered = true;
            var since = time.GetUtcNow() - record.SubmittedAt;
            HandlerInstruments.FirstResponse(nameof(ModelGrain), method, record.Ticket.Kind, since > TimeSpan.Zero ? since : TimeSpan.Zero);
        }

        if (record.OutputBytes is { } bytes)
        {
            HandlerInstruments.ResponseBytes(nameof(ModelGrain), method, bytes);
        }

        return record.ToResult();
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
                "Operation", operationId,
                $"on model '{ModelId}' (results are kept for {Limits.ResultRetention}, and the last {Limits.PersistedResults} across a failover of the model's silo)");
    }

    /// <summary>
    /// Runs the loop until nothing is left; if a step of it fails (storage unavailable past a bounded wait, the capacity
    /// grain unreachable), logs it and goes on after a second, so accepted operations are never stranded.
    /// </summary>
    private async Task RunAsync()
    {
        while (true)
        {
            try
            {
                await RunQueueAsync();
                return;
            }
            catch (Exception ex)
            {
                LogLoopFailed(ex, ModelId);
                await Task.Delay(TimeSpan.FromSeconds(1), time);
            }
        }
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
                if (_reconcile && Current.Status == ModelStatus.Loaded)
                {
                    await ReconcileAsync();
                    continue;
                }

                var record = _queue.Dequeue();
                if (record.IsSettled)
                {
                    continue;
                }

                record.Status = OperationStatus.Running;
                if (Current.Status != ModelStatus.Loaded)
                {
                    await FinishDispatchedAsync();
                    if (!await PrepareAsync(record))
                    {
                        continue;
                    }
                }

                // Never send what is not in the pending log: a failover would not know the trainer ran it.
                await PersistAcceptedAsync(null);
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

            await FinishAsync();
        }
    }

    /// <summary>
    /// After a (re)activation, asks the trainer which of the queued operations it already ran: their outcomes are taken
    /// as they are, in order; the rest are sent (one it started and has not finished answers with that run).
    /// </summary>
    private async Task ReconcileAsync()
    {
        _reconcile = false;
        var placement = Current.PlacementKey!;
        var queued = _queue.Where(r => !r.IsSettled).ToList();
        AdapterProgress progress;
        try
        {
            progress = await Trainer.GetProgressAsync(placement, [.. queued.Select(r => r.Sequence)]);
        }
        catch (CoordinatorException ex) when (ex.Code is CoordinatorErrorCode.NotFound or CoordinatorErrorCode.ReplicaUnavailable)
        {
            // The trainer or its adapter is gone, and what it ran went with it: as when a replica is lost, the queued
            // operations fail and the model accepts load_state.
            FailQueued(CoordinatorErrorCode.ReplicaUnavailable, $"the adapter on replica '{Current.ReplicaId}' is gone ({ex.Message}); its state went with it");
            await FlushAsync(null);
            _reconcile = true; // until the slot is released (it is asked again should this fail)
            await ReleaseSlotAsync(ModelStatus.Unloaded, $"Its adapter on replica '{Current.ReplicaId}' is gone: {ex.Message}");
            _reconcile = false;
            return;
        }
        catch (Exception ex)
        {
            // Unknown whether the trainer ran them: ask again shortly (the replica's liveness check ends this if it is gone).
            LogReconcileFailed(ex, ModelId, placement);
            _reconcile = true;
            await Task.Delay(TimeSpan.FromSeconds(1), time);
            return;
        }

        _lastSent = (placement, progress.LastStarted);
        var outcomes = progress.Outcomes.ToDictionary(o => o.Sequence);
        var taken = 0;
        while (_queue.TryPeek(out var next) && outcomes.TryGetValue(next.Sequence, out var outcome))
        {
            _queue.Dequeue();
            taken++;
            if (outcome.Output is { } output)
            {
                RecordOutcome(next.Operation!, output);
                Stage(next, OperationStatus.Succeeded, output, null, null);
            }
            else
            {
                Stage(next, OperationStatus.Failed, null, outcome.ErrorCode, outcome.ErrorMessage);
            }
        }

        LogReconciled(ModelId, placement, progress.LastStarted, taken);
        await FlushAsync(null);
    }

    /// <summary>Places the model and loads its adapter when it has none loaded; false (the operation failed) if that fails.</summary>
    private async Task<bool> PrepareAsync(OperationRecord record)
    {
        try
        {
            EnsureLive();
            if (!HoldsSlot)
            {
                if (Current.Status is ModelStatus.Unloaded or ModelStatus.Failed && record.Operation is not LoadStateOperation)
                {
                    throw CoordinatorException.InvalidState($"Model '{ModelId}' is {Current.Status} ({Current.FailureReason}); submit load_state to go on from saved state.");
                }

                await PlaceCoreAsync();
            }

            if (Current.Status == ModelStatus.Placed)
            {
                try
                {
                    await Trainer.LoadAdapterAsync(Current.PlacementKey!, Current.Lora!);
                }
                catch (CoordinatorException ex) when (ex.Code != CoordinatorErrorCode.ReplicaUnavailable)
                {
                    // The trainer refused the adapter (full, or a conflicting one under the key): give the slot back.
                    await ReleaseSlotAsync(ModelStatus.Failed, $"Loading on replica '{Current.ReplicaId}' failed: {ex.Message}");
                    throw;
                }

                var now = time.GetUtcNow();
                await ModelWriter.UpdateAsync(s =>
                {
                    s.Status = ModelStatus.Loaded;
                    s.UpdatedAt = now;
                }, null);
                StatusChanged(ModelStatus.Placed);
                _reconcile = false; // a fresh adapter: nothing ran on it
            }

            return true;
        }
        catch (Exception ex)
        {
            await FailAsync(record, ex, Current.ReplicaId ?? Current.LastReplicaId, Current.PlacementKey);
            return false;
        }
    }

    private ITrainerGrain Trainer => GrainFactory.GetGrain<ITrainerGrain>(Current.ReplicaId!);

    /// <summary>Sends an operation to the loaded adapter, after the one sent there before it.</summary>
    private Dispatched Dispatch(OperationRecord record)
    {
        var placement = Current.PlacementKey!;
        var previous = _lastSent.PlacementKey == placement ? _lastSent.Sequence : 0;
        OperationOrder order;
        if (record.Sequence > previous)
        {
            order = new OperationOrder(record.Sequence, previous);
            _lastSent = (placement, record.Sequence);
        }
        else
        {
            // Started there before a failover: the trainer answers with that run, whatever it follows.
            order = new OperationOrder(record.Sequence, record.Sequence - 1);
        }

        return new Dispatched(record, Current.ReplicaId!, placement, Trainer.ExecuteAsync(placement, order, record.Operation!));
    }

    private async Task FinishDispatchedAsync()
    {
        while (_dispatched.Count > 0)
        {
            await FinishAsync();
        }
    }

    /// <summary>
    /// Waits for the oldest dispatched operation's answer, then takes every other answer already in, in order, and
    /// writes their outcomes (and the step count they change) in one write before telling anyone.
    /// </summary>
    private async Task FinishAsync()
    {
        var sent = _dispatched.Dequeue();
        await Take(sent);
        while (_dispatched.TryPeek(out var next) && next.Call.IsCompleted)
        {
            await Take(_dispatched.Dequeue());
        }

        // Written without holding up the loop: it goes on sending while storage writes, and outcomes staged meanwhile
        // go out with the next write. Their waiters are told once their write is done.
        _ = ObserveAsync(FlushAsync(null));

        async Task Take(Dispatched d)
        {
            try
            {
                var output = await d.Call;
                if (!d.Record.IsSettled)
                {
                    RecordOutcome(d.Record.Operation!, output);
                    Stage(d.Record, OperationStatus.Succeeded, output, null, null);
                }
            }
            catch (Exception ex) when (!d.Record.IsSettled)
            {
                await FailAsync(d.Record, ex, d.ReplicaId, d.PlacementKey, flush: false);
            }
            catch (Exception)
            {
                // Already failed when its replica was lost; this is the dead call ending.
            }
        }
    }

    /// <summary>
    /// Fails an operation. When the trainer could not be reached, the operations queued behind it depend on an adapter
    /// state that is now unknown, so they fail too, unless the model has meanwhile been placed anew (replica lost, then
    /// load_state submitted): those were submitted against the new placement.
    /// </summary>
    private async Task FailAsync(OperationRecord record, Exception exception, string? replicaId, string? placementKey, bool flush = true)
    {
        var (code, message) = exception is CoordinatorException known
            ? (known.Code, known.Message)
            : (CoordinatorErrorCode.ReplicaUnavailable, $"Trainer of replica '{replicaId}' did not answer {record.Ticket.Kind}: {exception.GetType().Name}: {exception.Message}");
        Stage(record, OperationStatus.Failed, null, code, message);
        LogOperationFailed(ModelId, record.Ticket.OperationId, record.Ticket.Kind, message);
        if (code == CoordinatorErrorCode.ReplicaUnavailable && (placementKey is null || placementKey == Current.PlacementKey))
        {
            FailQueued(CoordinatorErrorCode.ReplicaUnavailable, $"an earlier operation ({record.Ticket.OperationId}) could not reach the trainer: {message}");
        }

        if (flush)
        {
            await FlushAsync(null);
        }
    }

    /// <summary>Keeps the model's step count and last saved state (written with the outcome).</summary>
    private void RecordOutcome(TrainingOperation operation, OperationOutput output)
    {
        var step = output.OptimStep?.Step ?? output.Checkpoint?.Step;
        if (step is null)
        {
            return;
        }

        Current.StepCount = step.Value;
        Current.LastSavedStatePath = operation is SaveStateOperation ? output.Checkpoint?.Path : Current.LastSavedStatePath;
        Current.UpdatedAt = time.GetUtcNow();
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
            await FlushAsync(WritePatience);
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
        if (Current.Status != ModelStatus.Loaded)
        {
            return;
        }

        try
        {
            await Trainer.UnloadAdapterAsync(Current.PlacementKey!);
        }
        catch (Exception ex)
        {
            // The slot is released either way; a trainer that is gone has freed the adapter with its process.
            LogTrainerUnloadFailed(ex, ModelId, Current.ReplicaId!);
        }
    }

    private void FailQueued(CoordinatorErrorCode code, string message)
    {
        while (_queue.TryDequeue(out var record))
        {
            Stage(record, OperationStatus.Failed, null, code, message);
        }
    }

    /// <summary>Fails the operations sent to a trainer that is gone; their calls are finished (and ignored) later.</summary>
    private void FailDispatched(string message)
    {
        foreach (var sent in _dispatched)
        {
            Stage(sent.Record, OperationStatus.Failed, null, CoordinatorErrorCode.ReplicaUnavailable, message);
        }
    }

    /// <summary>Decides an operation's outcome; it is published (waiters told) by the next <see cref="FlushAsync"/>.</summary>
    private void Stage(OperationRecord record, OperationStatus status, OperationOutput? output, CoordinatorErrorCode? code, string? message)
    {
        if (record.Stage(status, output, code, message, time.GetUtcNow()))
        {
            _open.Remove(record.Sequence);
            _staged.Add(record);
        }
    }

    /// <summary>
    /// Writes the staged outcomes with the model's state (after applying <paramref name="change"/> to it), then tells
    /// their waiters. <paramref name="patience"/> null retries until storage answers; otherwise the call answers
    /// Unavailable after it and the write goes on.
    /// </summary>
    private async Task FlushAsync(TimeSpan? patience, Action<ModelState>? change = null)
    {
        if (_staged.Count == 0 && change is null && ModelWriter.IsWritten)
        {
            return;
        }

        change?.Invoke(Current);
        var batch = _staged.ToList();
        _staged.Clear();
        foreach (var record in batch)
        {
            _persisted[record.Sequence] = record;
        }

        var completedThrough = _open.Count == 0 ? _sequence : _open.Min - 1;
        var dropped = _persisted.Values.Where(r => r.Sequence <= completedThrough).Select(r => r.Sequence).SkipLast(Limits.PersistedResults).ToList();
        foreach (var sequence in dropped)
        {
            _persisted.Remove(sequence);
        }

        Current.CompletedThrough = completedThrough;
        Current.Finished = [.. _persisted.Values.Select(r => r.ToFinished(serializer))];
        var write = PublishAfterAsync(ModelWriter.WriteAsync(null), batch);
        if (patience is not { } p)
        {
            await write;
            return;
        }

        try
        {
            await write.WaitAsync(p, time);
        }
        catch (TimeoutException)
        {
            throw CoordinatorException.Unavailable($"Model '{ModelId}': its state could not be written within {p}; the change is kept and written when storage answers. Retry the call.");
        }
    }

    private async Task ObserveAsync(Task flush)
    {
        try
        {
            await flush;
        }
        catch (CoordinatorException ex)
        {
            // Only a superseded activation's write fails for good; it is deactivating, and the other one has the log.
            LogFlushAbandoned(ex, ModelId);
        }
    }

    private async Task PublishAfterAsync(Task write, List<OperationRecord> batch)
    {
        await write;
        foreach (var record in batch)
        {
            record.Publish();
            _unpublished.Remove(record.Sequence);
            events.Emit(new OperationCompleted(record.Ticket.Kind, record.Status == OperationStatus.Succeeded, record.ErrorCode?.ToString(), record.ErrorMessage), Tags(record.Ticket.OperationId));
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
            var pruned = _finished.Dequeue();
            _operations.Remove(pruned.Ticket.OperationId);
            if (pruned.IdempotencyKey is { } key)
            {
                _byKey.Remove(key);
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId} operation {OperationId} ({Kind}) failed: {Error}")]
    private partial void LogOperationFailed(string modelId, string operationId, string kind, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId}: trainer of replica {ReplicaId} did not confirm unloading the adapter")]
    private partial void LogTrainerUnloadFailed(Exception exception, string modelId, string replicaId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {ModelId} reactivated with {Count} unfinished operations from sequence {First}; reconciling with its trainer")]
    private partial void LogRecovered(string modelId, int count, long first);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {ModelId}: the operation loop failed; it goes on in a second")]
    private partial void LogLoopFailed(Exception exception, string modelId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId}: outcomes not written by this activation, which another one superseded")]
    private partial void LogFlushAbandoned(Exception exception, string modelId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId}: could not ask the trainer of adapter {PlacementKey} what it ran; asking again")]
    private partial void LogReconcileFailed(Exception exception, string modelId, string placementKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {ModelId}: adapter {PlacementKey} had started through sequence {LastStarted}; took {Taken} finished outcomes from the trainer")]
    private partial void LogReconciled(string modelId, string placementKey, long lastStarted, int taken);

    /// <summary>An operation sent to the trainer: where it went, and the call that answers it.</summary>
    private sealed record Dispatched(OperationRecord Record, string ReplicaId, string PlacementKey, Task<OperationOutput> Call);

    /// <summary>
    /// One submitted operation. Its outcome is staged once (the first decision wins), then published when written:
    /// readers see it finished only from then on, so what they see never changes.
    /// </summary>
    private sealed class OperationRecord(OperationTicket ticket, TrainingOperation? operation, DateTimeOffset submittedAt, string? idempotencyKey)
    {
        private byte[]? _payload;
        private FinishedOperation? _finishedEntry;
        private (OperationStatus Status, OperationOutput? Output, CoordinatorErrorCode? Code, string? Message, DateTimeOffset At)? _staged;

        public OperationTicket Ticket { get; } = ticket;

        public long Sequence => Ticket.Sequence;

        /// <summary>The operation; null for one restored finished (it will not run again).</summary>
        public TrainingOperation? Operation { get; } = operation;

        public DateTimeOffset SubmittedAt { get; } = submittedAt;

        public string? IdempotencyKey { get; } = idempotencyKey;

        public OperationStatus Status { get; set; } = OperationStatus.Queued;

        public OperationOutput? Output { get; private set; }

        public CoordinatorErrorCode? ErrorCode { get; private set; }

        public string? ErrorMessage { get; private set; }

        public DateTimeOffset? CompletedAt { get; private set; }

        public TaskCompletionSource Completion { get; } = NewSignal();

        /// <summary>A caller has been told its outcome (this activation's count of time to first response has it).</summary>
        public bool Answered { get; set; }

        /// <summary>Published: readers see it finished.</summary>
        public bool IsCompleted => Status is OperationStatus.Succeeded or OperationStatus.Failed;

        /// <summary>Its outcome is decided (staged or published).</summary>
        public bool IsSettled => _staged is not null || IsCompleted;

        public static OperationRecord Finished(OperationTicket ticket, FinishedOperation entry, OperationOutput? output)
        {
            // Restored after a failover: a caller may have been told already, by the activation that counted its time to first
            // response, so it is not counted again (an outcome first told after a failover goes uncounted). Its persisted
            // form is this entry.
            var record = new OperationRecord(ticket, null, entry.SubmittedAt, entry.IdempotencyKey) { Answered = true, _finishedEntry = entry };
            record.Stage(entry.Status, output, entry.ErrorCode, entry.ErrorMessage, entry.CompletedAt);
            record.Publish();
            return record;
        }

        /// <summary>The operation in Orleans' binary format, made once.</summary>
        public byte[] Payload(Orleans.Serialization.Serializer serializer) => _payload ??= serializer.SerializeToArray(Operation!);

        /// <summary>Decides the outcome; false if it already was.</summary>
        public bool Stage(OperationStatus status, OperationOutput? output, CoordinatorErrorCode? code, string? message, DateTimeOffset at)
        {
            if (IsSettled)
            {
                return false;
            }

            _staged = (status, output, code, message, at);
            return true;
        }

        /// <summary>Makes the staged outcome visible and wakes the waiters.</summary>
        public void Publish()
        {
            if (_staged is { } s && !IsCompleted)
            {
                (Status, Output, ErrorCode, ErrorMessage, CompletedAt) = (s.Status, s.Output, s.Code, s.Message, s.At);
                Completion.TrySetResult();
            }
        }

        public FinishedOperation ToFinished(Orleans.Serialization.Serializer serializer) => _finishedEntry ??= Entry(serializer);

        /// <summary>The size of its output as persisted; null until the outcome was persisted, or when it has none.</summary>
        public int? OutputBytes => IsCompleted ? _finishedEntry?.Output?.Length : null;

        private FinishedOperation Entry(Orleans.Serialization.Serializer serializer)
        {
            var s = _staged!.Value;
            return new FinishedOperation
            {
                OperationId = Ticket.OperationId,
                Sequence = Sequence,
                Kind = Ticket.Kind,
                IdempotencyKey = IdempotencyKey,
                Status = s.Status,
                Output = s.Output is null ? null : serializer.SerializeToArray(s.Output),
                ErrorCode = s.Code,
                ErrorMessage = s.Message,
                SubmittedAt = SubmittedAt,
                CompletedAt = s.At,
            };
        }

        public OperationResult ToResult() => new(Ticket, Status, Output, ErrorCode, ErrorMessage, SubmittedAt, CompletedAt);
    }
}
