using System.Diagnostics;
using Coordinator.Contracts.Capacity;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Hosting;
using Coordinator.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Replicas;

/// <summary>Persisted state of a <see cref="ReplicaGrain"/>.</summary>
public sealed class ReplicaState
{
    public ReplicaStatus Status { get; set; }
    public string BaseModel { get; set; } = "";
    public int LoraCapacity { get; set; }
    public DeviceDescription? Device { get; set; }
    public string? Endpoint { get; set; }
    public DateTimeOffset RegisteredAt { get; set; }
    public DateTimeOffset LastHeartbeatAt { get; set; }

    /// <summary>Models still to be told that this replica is gone (survives a crash mid-release).</summary>
    public List<string> PendingLostModels { get; set; } = [];

    /// <summary>Whether this replica's slots still have to be removed from the capacity registry.</summary>
    public bool SlotsPendingRemoval { get; set; }
}

/// <summary>One trainer replica: registration, heartbeats, draining and death.</summary>
internal sealed partial class ReplicaGrain : Grain, IReplicaGrain, IRemindable, ICorrelatedGrain
{
    private readonly IPersistentState<ReplicaState> _state;
    private readonly TimeProvider _time;
    private readonly ReplicaOptions _options;
    private readonly ILogger<ReplicaGrain> _logger;
    private readonly GrainWatchdog _liveness;
    private readonly IClusterMembershipService _membership;

    /// <summary>
    /// How much longer than <see cref="ReplicaOptions.HeartbeatTimeout"/> a replica whose trainer host the cluster's
    /// membership still counts as active may go without a heartbeat. When another silo dies, calls routed through its
    /// share of the grain directory are refused for a few seconds, heartbeats included; a live trainer must not be
    /// declared dead for that. A host that is truly gone is declared dead through membership at once.
    /// </summary>
    internal const int ActiveHostGrace = 3;

    public ReplicaGrain(
        [PersistentState("replica", PersistenceSchema.StorageName)] IPersistentState<ReplicaState> state,
        [FromKeyedServices(CoordinatorTime.ServiceKey)] TimeProvider time,
        IOptions<ReplicaOptions> options,
        IClusterMembershipService membership,
        IRunEvents events,
        ILogger<ReplicaGrain> logger)
    {
        _events = events;
        _state = state;
        _time = time;
        _membership = membership;
        _options = options.Value;
        _logger = logger;
        _liveness = new GrainWatchdog(this, "replica-liveness", _options.LivenessCheckPeriod, _options.HeartbeatTimeout, EnforceLivenessAsync);
    }

    private readonly IRunEvents _events;

    private string ReplicaId => this.GetPrimaryKeyString();

    private ReplicaState Current => _state.State;

    private bool IsUp => Current.Status is ReplicaStatus.Active or ReplicaStatus.Draining;

    private ILoraCapacityGrain Capacity => GrainFactory.GetGrain<ILoraCapacityGrain>(Current.BaseModel);

    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        IsUp || Current.SlotsPendingRemoval || Current.PendingLostModels.Count > 0 ? _liveness.StartAsync(persist: false) : Task.CompletedTask;

    public async Task<ReplicaInfo> RegisterAsync(RegisterReplicaRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        await EnforceLivenessAsync();
        if (IsUp && Current.BaseModel != request.BaseModel)
        {
            throw new CoordinatorException(
                CoordinatorErrorCode.Conflict,
                $"Replica '{ReplicaId}' is registered for base model '{Current.BaseModel}'; deregister it before registering it for '{request.BaseModel}'.");
        }

        await GrainFactory.GetGrain<ILoraCapacityGrain>(request.BaseModel).UpsertReplicaAsync(ReplicaId, request.LoraCapacity);
        await GrainFactory.GetGrain<IBaseModelIndexGrain>(0).AddAsync(request.BaseModel);
        var now = _time.GetUtcNow();
        var from = Current.Status;
        await _state.MutateAsync(s =>
        {
            s.RegisteredAt = IsUp ? s.RegisteredAt : now;
            s.Status = ReplicaStatus.Active;
            s.BaseModel = request.BaseModel;
            s.LoraCapacity = request.LoraCapacity;
            s.Device = request.Device;
            s.Endpoint = request.Endpoint;
            s.LastHeartbeatAt = now;
        });
        StatusChanged(from, "registered");
        await _liveness.StartAsync(persist: true);
        LogRegistered(ReplicaId, Current.BaseModel, Current.LoraCapacity, Current.Device!.Kind);
        return ToInfo();
    }

    public async Task<ReplicaInfo> HeartbeatAsync()
    {
        EnsureExists();
        await EnforceLivenessAsync();
        if (!IsUp)
        {
            throw CoordinatorException.InvalidState($"Replica '{ReplicaId}' is {Current.Status}; register it again.");
        }

        var now = _time.GetUtcNow();
        await _state.MutateAsync(s => s.LastHeartbeatAt = now);
        return ToInfo();
    }

    public async Task<ReplicaInfo> DrainAsync()
    {
        EnsureExists();
        await EnforceLivenessAsync();
        if (!IsUp)
        {
            throw CoordinatorException.InvalidState($"Replica '{ReplicaId}' is {Current.Status}; only an active replica can drain.");
        }

        await Capacity.SetDrainingAsync(ReplicaId, true);
        var from = Current.Status;
        await _state.MutateAsync(s => s.Status = ReplicaStatus.Draining);
        StatusChanged(from, "drained");
        return ToInfo();
    }

    public async Task<ReplicaInfo> DeregisterAsync()
    {
        EnsureExists();
        await EnforceLivenessAsync();
        if (IsUp)
        {
            await GoDownAsync(ReplicaStatus.Deregistered, "it deregistered");
        }

        return ToInfo();
    }

    public async Task<ReplicaInfo> GetAsync()
    {
        EnsureExists();
        await EnforceLivenessAsync();
        return ToInfo();
    }

    public async Task<ReplicaInfo?> ReportHostLostAsync(string hostEndpoint, string reason)
    {
        if (Current.Status == ReplicaStatus.None)
        {
            return null;
        }

        if (IsUp && Current.Endpoint == hostEndpoint)
        {
            LogHostLost(ReplicaId, reason);
            await GoDownAsync(ReplicaStatus.Dead, $"its host left the cluster ({reason})");
        }

        return ToInfo();
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => EnforceLivenessAsync();

    /// <summary>Declares the replica dead when its heartbeat is overdue, and finishes a release a crash interrupted.</summary>
    private async Task EnforceLivenessAsync()
    {
        var silence = _time.GetUtcNow() - Current.LastHeartbeatAt;
        if (IsUp && silence >= _options.HeartbeatTimeout && (silence >= _options.HeartbeatTimeout * ActiveHostGrace || !HostIsActiveMember()))
        {
            LogDead(ReplicaId, Current.LastHeartbeatAt);
            await GoDownAsync(ReplicaStatus.Dead, $"no heartbeat since {Current.LastHeartbeatAt:O}");
        }
        else if (Current.SlotsPendingRemoval || Current.PendingLostModels.Count > 0)
        {
            await ReleaseSlotsAsync();
        }
    }

    /// <summary>True when the replica registered from a silo that the cluster's membership counts as active.</summary>
    private bool HostIsActiveMember()
    {
        try
        {
            return Current.Endpoint is { } endpoint
                && _membership.CurrentSnapshot.GetSiloStatus(SiloAddress.FromParsableString(endpoint)) == SiloStatus.Active;
        }
        catch (FormatException)
        {
            // Registered from something that is not a silo address (a test double, a client): heartbeats alone decide.
            return false;
        }
    }

    private async Task GoDownAsync(ReplicaStatus status, string reason)
    {
        // Stop new grants first, so the list of models read next is complete, then persist it before removing
        // the slots: a crash anywhere in between is finished by the next liveness check.
        IReadOnlyList<string> models = [];
        if ((await Capacity.GetSnapshotAsync()).Replicas.Any(r => r.ReplicaId == ReplicaId))
        {
            await Capacity.SetDrainingAsync(ReplicaId, true);
            var snapshot = await Capacity.GetSnapshotAsync();
            models = snapshot.Replicas.First(r => r.ReplicaId == ReplicaId).ModelIds;
        }

        var from = Current.Status;
        await _state.MutateAsync(s =>
        {
            s.Status = status;
            s.SlotsPendingRemoval = true;
            s.PendingLostModels = [.. models];
        });
        StatusChanged(from, reason);
        if (status == ReplicaStatus.Dead)
        {
            _events.Emit(new ReplicaDeclaredDead(reason), new EventTags(ReplicaId: ReplicaId));
        }

        await ReleaseSlotsAsync();
    }

    private async Task ReleaseSlotsAsync()
    {
        if (Current.SlotsPendingRemoval)
        {
            await Capacity.RemoveReplicaAsync(ReplicaId);
            await _state.MutateAsync(s => s.SlotsPendingRemoval = false);
        }

        var lost = Current.PendingLostModels.ToList();
        await Task.WhenAll(lost.Select(id => GrainFactory.GetGrain<IModelGrain>(id).OnReplicaLostAsync(ReplicaId)));
        await _state.MutateAsync(s => s.PendingLostModels.Clear());
        await _liveness.StopAsync();

        LogReleased(ReplicaId, Current.Status, lost.Count);
    }

    private void EnsureExists()
    {
        if (Current.Status == ReplicaStatus.None)
        {
            throw CoordinatorException.NotFound("Replica", ReplicaId);
        }
    }

    public IEnumerable<KeyValuePair<string, string?>> Correlation =>
    [
        new(CoordinatorTelemetry.ReplicaId, ReplicaId),
        new(CoordinatorTelemetry.BaseModel, Current.Status == ReplicaStatus.None ? null : Current.BaseModel),
    ];

    /// <summary>Records a change of the replica's status, as written.</summary>
    private void StatusChanged(ReplicaStatus from, string reason)
    {
        if (from != Current.Status)
        {
            _events.Emit(
                new StateChanged(EntityKind.Replica, ReplicaId, from == ReplicaStatus.None ? null : from.ToString(), Current.Status.ToString(), reason),
                new EventTags(ReplicaId: ReplicaId));
        }
    }

    private ReplicaInfo ToInfo() => new(
        ReplicaId, Current.BaseModel, Current.LoraCapacity, Current.Device!, Current.Endpoint, Current.Status, Current.RegisteredAt, Current.LastHeartbeatAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {ReplicaId} registered for {BaseModel} with {Capacity} LoRA slot(s) on {DeviceKind}")]
    private partial void LogRegistered(string replicaId, string baseModel, int capacity, string deviceKind);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {ReplicaId} missed its heartbeats (last {LastHeartbeatAt:o}); declaring it dead")]
    private partial void LogDead(string replicaId, DateTimeOffset lastHeartbeatAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {ReplicaId} is {Status}; released {ModelCount} adapter(s) for re-placement")]
    private partial void LogReleased(string replicaId, ReplicaStatus status, int modelCount);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {ReplicaId} declared dead because its trainer host left the cluster: {Reason}")]
    private partial void LogHostLost(string replicaId, string reason);
}
