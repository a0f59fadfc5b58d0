using System.Diagnostics;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Hosting;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Sessions;

/// <summary>Persisted state of a <see cref="SessionGrain"/>.</summary>
public sealed class SessionState
{
    public SessionStatus Status { get; set; }
    public string OwnerTokenHash { get; set; } = "";
    public Dictionary<string, string> Metadata { get; set; } = [];
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastHeartbeatAt { get; set; }
    public List<string> ModelIds { get; set; } = [];

    /// <summary>Models still to be released after the session ended (survives a crash mid-release).</summary>
    public List<string> PendingReleases { get; set; } = [];
}

/// <summary>A client's lease; owns its models and releases them on close or expiry.</summary>
internal sealed partial class SessionGrain : Grain, ISessionGrain, IRemindable, ICorrelatedGrain
{
    private readonly IPersistentState<SessionState> _state;
    private readonly TimeProvider _time;
    private readonly SessionOptions _options;
    private readonly ILogger<SessionGrain> _logger;
    private readonly GrainWatchdog _lease;
    private readonly IRunEvents _events;

    public SessionGrain(
        [PersistentState("session", PersistenceSchema.StorageName)] IPersistentState<SessionState> state,
        [FromKeyedServices(CoordinatorTime.ServiceKey)] TimeProvider time,
        IOptions<SessionOptions> options,
        IRunEvents events,
        ILogger<SessionGrain> logger)
    {
        _events = events;
        _state = state;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _lease = new GrainWatchdog(this, "session-lease", _options.ExpiryCheckPeriod, _options.IdleTimeout, EnforceLeaseAsync);
    }

    private string SessionId => this.GetPrimaryKeyString();

    private SessionState Current => _state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        Current.Status == SessionStatus.Active || Current.PendingReleases.Count > 0 ? _lease.StartAsync(persist: false) : Task.CompletedTask;

    public async Task<SessionInfo> CreateAsync(CreateSessionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var hash = OwnerTokens.Hash(request.OwnerToken);
        if (Current.Status != SessionStatus.None)
        {
            return Current.OwnerTokenHash == hash
                ? ToInfo()
                : throw new CoordinatorException(CoordinatorErrorCode.Conflict, $"Session '{SessionId}' already exists with another owner.");
        }

        // The owner index is idempotent, so registering before persisting leaves nothing behind on a retry.
        await GrainFactory.GetGrain<IOwnerGrain>(hash).AddSessionAsync(SessionId);
        var now = _time.GetUtcNow();
        await _state.MutateAsync(s =>
        {
            s.Status = SessionStatus.Active;
            s.OwnerTokenHash = hash;
            s.Metadata = request.Metadata?.ToDictionary() ?? [];
            s.CreatedAt = now;
            s.LastHeartbeatAt = now;
        });
        StatusChanged(SessionStatus.None);
        await _lease.StartAsync(persist: true);
        LogCreated(SessionId);
        return ToInfo();
    }

    public async Task<SessionInfo> HeartbeatAsync(string ownerToken)
    {
        await EnsureActiveOwnerAsync(ownerToken);
        var now = _time.GetUtcNow();
        await _state.MutateAsync(s => s.LastHeartbeatAt = now);
        return ToInfo();
    }

    public async Task<SessionInfo> CloseAsync(string ownerToken)
    {
        EnsureOwner(ownerToken);
        await EnforceLeaseAsync();
        if (Current.Status == SessionStatus.Active)
        {
            await EndAsync(SessionStatus.Closed);
        }

        return ToInfo();
    }

    public async Task<SessionInfo> GetAsync()
    {
        EnsureExists();
        await EnforceLeaseAsync();
        return ToInfo();
    }

    public async Task<ModelInfo> CreateModelAsync(string ownerToken, string modelId, CreateModelRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Require.Id(modelId, nameof(modelId));
        request.Validate();
        await EnsureActiveOwnerAsync(ownerToken);
        var model = GrainFactory.GetGrain<IModelGrain>(modelId);
        if (Current.ModelIds.Contains(modelId))
        {
            // A retry: the model checks that the arguments are the same ones.
            return await model.InitializeAsync(SessionId, Current.OwnerTokenHash, request);
        }

        var owner = GrainFactory.GetGrain<IOwnerGrain>(Current.OwnerTokenHash);
        var reserved = await owner.ReserveModelAsync(modelId);
        ModelInfo info;
        try
        {
            info = await model.InitializeAsync(SessionId, Current.OwnerTokenHash, request);
        }
        catch when (reserved)
        {
            // Give back only what this call took: the id may be counted for the session that really owns it.
            await owner.ReleaseModelsAsync([modelId]);
            throw;
        }

        var now = _time.GetUtcNow();
        await _state.MutateAsync(s =>
        {
            s.ModelIds.Add(modelId);
            s.LastHeartbeatAt = now;
        });
        return info;
    }

    public async Task<IReadOnlyList<ModelInfo>> ListModelsAsync()
    {
        EnsureExists();
        await EnforceLeaseAsync();
        return await Task.WhenAll(Current.ModelIds.Select(id => GrainFactory.GetGrain<IModelGrain>(id).GetAsync()));
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => EnforceLeaseAsync();

    /// <summary>Expires the session if its lease ran out, and finishes any release a crash interrupted.</summary>
    private async Task EnforceLeaseAsync()
    {
        if (Current.Status == SessionStatus.Active && _time.GetUtcNow() >= Current.LastHeartbeatAt + _options.IdleTimeout)
        {
            LogExpired(SessionId, Current.LastHeartbeatAt);
            await EndAsync(SessionStatus.Expired);
        }
        else if (Current.Status != SessionStatus.Active && Current.PendingReleases.Count > 0)
        {
            await ReleasePendingAsync();
        }
    }

    private async Task EndAsync(SessionStatus status)
    {
        var from = Current.Status;
        await _state.MutateAsync(s =>
        {
            s.Status = status;
            s.PendingReleases = [.. s.ModelIds];
        });
        StatusChanged(from);
        await ReleasePendingAsync();
    }

    private async Task ReleasePendingAsync()
    {
        var pending = Current.PendingReleases.ToList();
        await Task.WhenAll(pending.Select(id => GrainFactory.GetGrain<IModelGrain>(id).ReleaseAsync()));
        await GrainFactory.GetGrain<IOwnerGrain>(Current.OwnerTokenHash).ReleaseModelsAsync(pending);
        await _state.MutateAsync(s => s.PendingReleases.Clear());
        await _lease.StopAsync();

        LogEnded(SessionId, Current.Status, pending.Count);
    }

    private void EnsureExists()
    {
        if (Current.Status == SessionStatus.None)
        {
            throw CoordinatorException.NotFound("Session", SessionId);
        }
    }

    public IEnumerable<KeyValuePair<string, string?>> Correlation => [new(CoordinatorTelemetry.SessionId, SessionId)];

    /// <summary>Records a change of the session's status, as written.</summary>
    private void StatusChanged(SessionStatus from)
    {
        if (from != Current.Status)
        {
            _events.Emit(
                new StateChanged(EntityKind.Session, SessionId, from == SessionStatus.None ? null : from.ToString(), Current.Status.ToString(), null),
                new EventTags(SessionId: SessionId));
        }
    }

    private void EnsureOwner(string ownerToken)
    {
        EnsureExists();
        Require.Id(ownerToken, nameof(ownerToken));
        if (OwnerTokens.Hash(ownerToken) != Current.OwnerTokenHash)
        {
            throw new CoordinatorException(CoordinatorErrorCode.Unauthorized, $"The owner token does not match session '{SessionId}'.");
        }
    }

    private async Task EnsureActiveOwnerAsync(string ownerToken)
    {
        EnsureOwner(ownerToken);
        await EnforceLeaseAsync();
        if (Current.Status != SessionStatus.Active)
        {
            throw new CoordinatorException(CoordinatorErrorCode.SessionEnded, $"Session '{SessionId}' is {Current.Status.ToString().ToLowerInvariant()}.");
        }
    }

    private SessionInfo ToInfo() => new(
        SessionId, Current.Status, Current.Metadata.AsReadOnly(), Current.CreatedAt, Current.LastHeartbeatAt, Current.LastHeartbeatAt + _options.IdleTimeout, [.. Current.ModelIds]);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} created")]
    private partial void LogCreated(string sessionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} expired (last heartbeat {LastHeartbeatAt:o})")]
    private partial void LogExpired(string sessionId, DateTimeOffset lastHeartbeatAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} ended as {Status}; released {ModelCount} model(s)")]
    private partial void LogEnded(string sessionId, SessionStatus status, int modelCount);
}
