using System.Diagnostics;
using Coordinator.Contracts.Capacity;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Telemetry;
using Coordinator.Contracts.Training;

namespace Coordinator.Client;

/// <summary>
/// The .NET API of the coordinator: sessions, models, replicas and capacity, without grain keys.
/// Arguments are checked here first, so bad input fails before any network call.
/// </summary>
public sealed class CoordinatorClient
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    private readonly IGrainFactory _grains;
    private readonly CoordinatorClientOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the facade over a connected cluster client (or a silo's grain factory).</summary>
    public CoordinatorClient(IGrainFactory grains, CoordinatorClientOptions? options = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        _options = options ?? new CoordinatorClientOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Opens a new session owned by <paramref name="ownerToken"/>; pass <paramref name="sessionId"/> to make the call retry-safe.</summary>
    public Task<SessionInfo> OpenSessionAsync(string ownerToken, IReadOnlyDictionary<string, string>? metadata = null, string? sessionId = null)
    {
        var request = new CreateSessionRequest(ownerToken, metadata);
        request.Validate();
        sessionId = sessionId is null ? NewId("ses") : Require.Id(sessionId, nameof(sessionId));
        return Traced("session.open", CoordinatorTelemetry.SessionId, sessionId, () => Session(sessionId).CreateAsync(request));
    }

    /// <summary>Extends a session's lease.</summary>
    public Task<SessionInfo> HeartbeatSessionAsync(string sessionId, string ownerToken) =>
        Traced("session.heartbeat", CoordinatorTelemetry.SessionId, sessionId, () => Session(sessionId).HeartbeatAsync(Require.Id(ownerToken, nameof(ownerToken))));

    /// <summary>Closes a session and releases its models.</summary>
    public Task<SessionInfo> CloseSessionAsync(string sessionId, string ownerToken) =>
        Traced("session.close", CoordinatorTelemetry.SessionId, sessionId, () => Session(sessionId).CloseAsync(Require.Id(ownerToken, nameof(ownerToken))));

    /// <summary>Returns a session.</summary>
    public Task<SessionInfo> GetSessionAsync(string sessionId) =>
        Traced("session.get", CoordinatorTelemetry.SessionId, sessionId, () => Session(sessionId).GetAsync());

    /// <summary>Lists the sessions opened with an owner token.</summary>
    public async Task<IReadOnlyList<SessionInfo>> ListSessionsAsync(string ownerToken)
    {
        var owner = _grains.GetGrain<IOwnerGrain>(OwnerTokens.Hash(Require.Id(ownerToken, nameof(ownerToken))));
        var ids = await Traced("session.list", CoordinatorTelemetry.SessionId, "", owner.ListSessionsAsync).ConfigureAwait(false);
        return await Task.WhenAll(ids.Select(GetSessionAsync)).ConfigureAwait(false);
    }

    /// <summary>Creates a model (LoRA adapter) in a session; pass <paramref name="modelId"/> to make the call retry-safe.</summary>
    public Task<ModelInfo> CreateModelAsync(string sessionId, string ownerToken, string baseModel, LoraConfig lora, string? modelId = null)
    {
        var request = new CreateModelRequest(baseModel, lora);
        request.Validate();
        Require.Id(ownerToken, nameof(ownerToken));
        modelId = modelId is null ? NewId("mdl") : Require.Id(modelId, nameof(modelId));
        return Traced("model.create", CoordinatorTelemetry.ModelId, modelId, () =>
        {
            Activity.Current?.SetTag(CoordinatorTelemetry.SessionId, sessionId).SetTag(CoordinatorTelemetry.BaseModel, baseModel);
            return Session(sessionId).CreateModelAsync(ownerToken, modelId, request);
        });
    }

    /// <summary>Places a model on a replica with a free slot.</summary>
    public Task<ModelInfo> PlaceModelAsync(string modelId) =>
        Traced("model.place", CoordinatorTelemetry.ModelId, modelId, () => Model(modelId).PlaceAsync());

    /// <summary>Unloads a model and frees its slot.</summary>
    public Task<ModelInfo> UnloadModelAsync(string modelId) =>
        Traced("model.unload", CoordinatorTelemetry.ModelId, modelId, () => Model(modelId).UnloadAsync());

    /// <summary>Returns a model.</summary>
    public Task<ModelInfo> GetModelAsync(string modelId) =>
        Traced("model.get", CoordinatorTelemetry.ModelId, modelId, () => Model(modelId).GetAsync());

    /// <summary>Lists the models of a session.</summary>
    public Task<IReadOnlyList<ModelInfo>> ListModelsAsync(string sessionId) =>
        Traced("session.list_models", CoordinatorTelemetry.SessionId, sessionId, () => Session(sessionId).ListModelsAsync());

    /// <summary>Queues a training operation on a model and returns its ticket at once; see <see cref="IModelGrain.SubmitAsync"/>.</summary>
    public async Task<OperationTicket> SubmitAsync(string modelId, TrainingOperation operation, string? idempotencyKey = null) =>
        (await SubmitAsync(modelId, [operation], idempotencyKey).ConfigureAwait(false))[0];

    /// <summary>
    /// Queues several operations on a model in one call, in the given order (all are accepted or none), and returns
    /// their tickets at once. This is how to pipeline: submit the next step (say forward_backward and optim_step)
    /// before waiting for the previous one, and the model's queue keeps the trainer busy while results travel back.
    /// The submission carries <paramref name="idempotencyKey"/> (a new one per call when not given), so the retries this
    /// client makes, and any the caller makes with the same key, run the operations once.
    /// </summary>
    public Task<IReadOnlyList<OperationTicket>> SubmitAsync(string modelId, IReadOnlyList<TrainingOperation> operations, string? idempotencyKey = null)
    {
        TrainingOperation.ValidateAll(operations);
        var key = idempotencyKey is null ? NewId("sub") : Require.Id(idempotencyKey, nameof(idempotencyKey));
        var kind = operations.Count == 1 ? operations[0].Kind : "batch";
        return Traced($"model.submit.{kind}", CoordinatorTelemetry.ModelId, modelId, () => Model(modelId).SubmitAsync(operations, key));
    }

    /// <summary>Returns an operation's status, and its result once finished.</summary>
    public Task<OperationResult> GetOperationAsync(string modelId, string operationId) =>
        Traced("model.operation.get", CoordinatorTelemetry.ModelId, modelId, () => Model(modelId).GetOperationAsync(Require.Id(operationId, nameof(operationId))));

    /// <summary>
    /// Waits for an operation to finish (in waits of at most <see cref="CoordinatorClientOptions.WaitSlice"/>), up to
    /// <paramref name="timeout"/> (default: no limit); returns its last status.
    /// </summary>
    public async Task<OperationResult> WaitAsync(OperationTicket ticket, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        return (await WaitAsync([ticket], timeout, cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>
    /// Waits for operations of one model to finish, up to <paramref name="timeout"/> (default: no limit), in one call
    /// per <see cref="CoordinatorClientOptions.WaitSlice"/>; returns their last statuses in the given order.
    /// </summary>
    public async Task<IReadOnlyList<OperationResult>> WaitAsync(IReadOnlyList<OperationTicket> tickets, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (tickets is null || tickets.Count == 0 || tickets.Any(t => t is null))
        {
            throw CoordinatorException.InvalidArgument("tickets must hold at least one ticket, and no null.");
        }

        var modelId = tickets[0].ModelId;
        if (tickets.Any(t => t.ModelId != modelId))
        {
            throw CoordinatorException.InvalidArgument($"tickets must all be of one model (found '{modelId}' and '{tickets.First(t => t.ModelId != modelId).ModelId}').");
        }

        var model = Model(modelId);
        var ids = tickets.Select(t => t.OperationId).ToArray();
        var deadline = timeout is { } t ? _time.GetUtcNow() + t : DateTimeOffset.MaxValue;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var results = await Traced("model.operation.wait", CoordinatorTelemetry.ModelId, modelId,
                () => model.AwaitOperationsAsync(ids, NextWait(deadline)), cancellationToken).ConfigureAwait(false);
            if (results.All(r => r.IsCompleted) || _time.GetUtcNow() >= deadline)
            {
                return results;
            }
        }
    }

    /// <summary>
    /// Submits an operation and waits for its output (one call when it finishes within
    /// <see cref="CoordinatorClientOptions.WaitSlice"/>); a failed operation throws its <see cref="CoordinatorException"/>.
    /// Retried submissions carry one idempotency key, so the operation runs once. To keep the trainer busy, submit ahead
    /// with <see cref="SubmitAsync(string, IReadOnlyList{TrainingOperation}, string)"/> instead.
    /// </summary>
    public async Task<OperationOutput> RunAsync(string modelId, TrainingOperation operation, CancellationToken cancellationToken = default)
    {
        TrainingOperation.ValidateAll([operation]);
        var key = NewId("run");
        var result = (await Traced($"model.run.{operation.Kind}", CoordinatorTelemetry.ModelId, modelId,
            () => Model(modelId).SubmitAndAwaitAsync([operation], key, _options.WaitSlice), cancellationToken).ConfigureAwait(false))[0];
        if (!result.IsCompleted)
        {
            result = await WaitAsync(result.Ticket, null, cancellationToken).ConfigureAwait(false);
        }

        return result.GetOutputOrThrow();
    }

    /// <summary>Loss of a batch, no gradients.</summary>
    public async Task<ForwardResult> ForwardAsync(string modelId, IReadOnlyList<Datum> batch, CancellationToken cancellationToken = default) =>
        (await RunAsync(modelId, new ForwardOperation(batch), cancellationToken).ConfigureAwait(false)).Forward!;

    /// <summary>Loss of a batch; its gradients are added to the model's accumulated gradients.</summary>
    public async Task<ForwardResult> ForwardBackwardAsync(string modelId, IReadOnlyList<Datum> batch, CancellationToken cancellationToken = default) =>
        (await RunAsync(modelId, new ForwardBackwardOperation(batch), cancellationToken).ConfigureAwait(false)).Forward!;

    /// <summary>One Adam step over the accumulated gradients.</summary>
    public async Task<OptimStepResult> OptimStepAsync(string modelId, AdamParams adam, CancellationToken cancellationToken = default) =>
        (await RunAsync(modelId, new OptimStepOperation(adam), cancellationToken).ConfigureAwait(false)).OptimStep!;

    /// <summary>Samples continuations of a prompt.</summary>
    public async Task<SampleResult> SampleAsync(string modelId, int[] prompt, SamplingParams sampling, CancellationToken cancellationToken = default) =>
        (await RunAsync(modelId, new SampleOperation(prompt, sampling), cancellationToken).ConfigureAwait(false)).Sample!;

    /// <summary>Saves the adapter (and its optimizer state) to a path on the trainer's file system.</summary>
    public async Task<CheckpointResult> SaveStateAsync(string modelId, string path, bool includeOptimizerState = true, CancellationToken cancellationToken = default) =>
        (await RunAsync(modelId, new SaveStateOperation(path, includeOptimizerState), cancellationToken).ConfigureAwait(false)).Checkpoint!;

    /// <summary>Loads saved adapter state; on a model that lost its replica this places it on another one first.</summary>
    public async Task<CheckpointResult> LoadStateAsync(string modelId, string path, bool includeOptimizerState = true, CancellationToken cancellationToken = default) =>
        (await RunAsync(modelId, new LoadStateOperation(path, includeOptimizerState), cancellationToken).ConfigureAwait(false)).Checkpoint!;

    /// <summary>Registers a trainer replica.</summary>
    public Task<ReplicaInfo> RegisterReplicaAsync(string replicaId, RegisterReplicaRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        return Traced("replica.register", CoordinatorTelemetry.ReplicaId, replicaId, () => Replica(replicaId).RegisterAsync(request));
    }

    /// <summary>Records a replica heartbeat.</summary>
    public Task<ReplicaInfo> ReplicaHeartbeatAsync(string replicaId) =>
        Traced("replica.heartbeat", CoordinatorTelemetry.ReplicaId, replicaId, () => Replica(replicaId).HeartbeatAsync());

    /// <summary>Stops new placements on a replica.</summary>
    public Task<ReplicaInfo> DrainReplicaAsync(string replicaId) =>
        Traced("replica.drain", CoordinatorTelemetry.ReplicaId, replicaId, () => Replica(replicaId).DrainAsync());

    /// <summary>Deregisters a replica and releases its adapters.</summary>
    public Task<ReplicaInfo> DeregisterReplicaAsync(string replicaId) =>
        Traced("replica.deregister", CoordinatorTelemetry.ReplicaId, replicaId, () => Replica(replicaId).DeregisterAsync());

    /// <summary>Returns a replica.</summary>
    public Task<ReplicaInfo> GetReplicaAsync(string replicaId) =>
        Traced("replica.get", CoordinatorTelemetry.ReplicaId, replicaId, () => Replica(replicaId).GetAsync());

    /// <summary>Lists the replicas of a base model.</summary>
    public async Task<IReadOnlyList<ReplicaInfo>> ListReplicasAsync(string baseModel)
    {
        var snapshot = await GetCapacityAsync(baseModel).ConfigureAwait(false);
        return await Task.WhenAll(snapshot.Replicas.Select(r => GetReplicaAsync(r.ReplicaId))).ConfigureAwait(false);
    }

    /// <summary>Returns the LoRA capacity of a base model across its replicas.</summary>
    public Task<CapacitySnapshot> GetCapacityAsync(string baseModel) =>
        Traced("capacity.get", CoordinatorTelemetry.BaseModel, baseModel, () => _grains.GetGrain<ILoraCapacityGrain>(Require.Id(baseModel, nameof(baseModel))).GetSnapshotAsync());

    /// <summary>Lists the base models that have had replicas.</summary>
    public Task<IReadOnlyList<string>> ListBaseModelsAsync() =>
        Traced("capacity.list_base_models", CoordinatorTelemetry.BaseModel, "", _grains.GetGrain<IBaseModelIndexGrain>(0).ListAsync);

    private ISessionGrain Session(string sessionId) => _grains.GetGrain<ISessionGrain>(Require.Id(sessionId, nameof(sessionId)));

    private IModelGrain Model(string modelId) => _grains.GetGrain<IModelGrain>(Require.Id(modelId, nameof(modelId)));

    private IReplicaGrain Replica(string replicaId) => _grains.GetGrain<IReplicaGrain>(Require.Id(replicaId, nameof(replicaId)));

    private TimeSpan NextWait(DateTimeOffset deadline)
    {
        var left = deadline - _time.GetUtcNow();
        return left < _options.WaitSlice ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : _options.WaitSlice;
    }

    private static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>
    /// Makes one call of the facade: traced, and repeated while it fails for a transient reason (see
    /// <see cref="IsTransient"/>) until <see cref="CoordinatorClientOptions.RetryTimeout"/>. Every call the facade makes
    /// is safe to repeat (reads, idempotent updates, creations and submissions under a fixed id or key). What reaches
    /// the caller is a <see cref="CoordinatorException"/>, an argument error, or a cancellation.
    /// </summary>
    private async Task<T> Traced<T>(string operation, string idTag, string id, Func<Task<T>> call, CancellationToken cancellationToken = default)
    {
        using var activity = CoordinatorTelemetry.ActivitySource.StartActivity($"coordinator.{operation}", ActivityKind.Client);
        activity?.SetTag(idTag, id);
        var giveUpAt = _time.GetUtcNow() + _options.RetryTimeout;
        var backoff = FirstBackoff;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex) && _time.GetUtcNow() + backoff < giveUpAt)
            {
                activity?.AddEvent(new ActivityEvent("retry", tags: new ActivityTagsCollection { ["attempt"] = attempt, ["error"] = $"{ex.GetType().Name}: {ex.Message}" }));
                await Task.Delay(backoff, _time, cancellationToken).ConfigureAwait(false);
                backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not ArgumentException)
            {
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                throw ex switch
                {
                    CoordinatorException { IsRetryable: false } known => known,
                    CoordinatorException retryable => CoordinatorException.Unavailable($"{retryable.Message} (still failing after {attempt} attempts over {_options.RetryTimeout})"),
                    _ when IsTransient(ex) => new CoordinatorException(CoordinatorErrorCode.Unavailable,
                        $"{operation} did not get through after {attempt} attempts over {_options.RetryTimeout}: {ex.GetType().Name}: {ex.Message}", ex),
                    _ => new CoordinatorException(CoordinatorErrorCode.Internal, $"{operation} failed: {ex.GetType().Name}: {ex.Message}", ex),
                };
            }
        }
    }

    /// <summary>
    /// Failures after which the same call may succeed: the retryable Unavailable, a silo or gateway that died or refused
    /// the message, and an answer that did not come in time (the cluster's response timeout).
    /// </summary>
    private static bool IsTransient(Exception exception) => exception switch
    {
        CoordinatorException known => known.IsRetryable,
        TimeoutException or OrleansMessageRejectionException or SiloUnavailableException or GatewayTooBusyException => true,
        Orleans.Runtime.Messaging.ConnectionFailedException => true,
        _ => false,
    };
}
