using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Replicas;
using Orleans.Metadata;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>
/// Registers the replica once this silo is in the cluster (its engine started before the silo), heartbeats, and
/// deregisters on a clean stop (so its adapters are released at once). If the coordinator declared the replica dead
/// meanwhile (a long pause), its adapters were released there: it drops them here too and registers again.
/// </summary>
internal sealed partial class ReplicaRegistration(
    TrainerRuntime runtime,
    IGrainFactory grains,
    ILocalSiloDetails silo,
    GrainInterfaceTypeResolver interfaces,
    GrainInterfaceTypeToGrainTypeResolver implementations,
    TimeProvider time,
    ILogger<ReplicaRegistration> logger) : BackgroundService
{
    private volatile string? _problem = "not registered yet";

    private IReplicaGrain Replica => grains.GetGrain<IReplicaGrain>(runtime.ReplicaId);

    /// <summary>This host's replica.</summary>
    public string ReplicaId => runtime.ReplicaId;

    /// <summary>Why the replica is not ready (not registered yet, the last heartbeat failed, deregistered); null when it is.</summary>
    public string? Problem => _problem;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await AwaitCoordinatorAsync(cancellationToken);
        await RegisterAsync();
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _problem = "stopping: deregistered";
        try
        {
            await Replica.DeregisterAsync();
            LogDeregistered(runtime.ReplicaId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogDeregisterFailed(ex, runtime.ReplicaId);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(runtime.Options.HeartbeatPeriod, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await Replica.HeartbeatAsync();
                    _problem = null;
                }
                catch (CoordinatorException ex) when (ex.Code == CoordinatorErrorCode.InvalidState)
                {
                    _problem = $"declared down by the coordinator: {ex.Message}";
                    LogReregistering(runtime.ReplicaId, ex.Message);
                    foreach (var adapter in runtime.Engine.Adapters)
                    {
                        await runtime.Engine.RemoveAdapterAsync(adapter);
                    }

                    await RegisterAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _problem = $"the last heartbeat failed at {time.GetUtcNow():O}: {ex.GetType().Name}: {ex.Message}";
                    LogHeartbeatFailed(ex, runtime.ReplicaId);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Joining the cluster is not enough to call a coordinator grain: this silo learns which grain types the others
    /// host from their manifests, fetched after membership changes. Calling before that fails with "no implementation".
    /// </summary>
    private async Task AwaitCoordinatorAsync(CancellationToken cancellationToken)
    {
        var replicaType = interfaces.GetGrainInterfaceType(typeof(IReplicaGrain));
        if (implementations.TryGetGrainType(replicaType, out _))
        {
            return;
        }

        // Polled, not awaited on the manifest's update stream: an update that lands between the check above and a
        // subscription would be missed, and none may follow (a CI run waited 90 s for one).
        LogAwaitingCoordinator(runtime.ReplicaId);
        while (!implementations.TryGetGrainType(replicaType, out _))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken);
        }
    }

    private async Task RegisterAsync()
    {
        var engine = runtime.Engine;
        var request = new RegisterReplicaRequest(runtime.Options.BaseModel, runtime.Options.LoraCapacity, engine.Device, silo.SiloAddress.ToParsableString());
        await Replica.RegisterAsync(request);
        _problem = null;
        LogRegistered(runtime.ReplicaId, runtime.Options.BaseModel, engine.Device.Kind, engine.Device.Name, runtime.Options.LoraCapacity, engine.BaseModelFingerprint);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {ReplicaId} registered: base model {BaseModel} ({Fingerprint}) on {DeviceKind} [{DeviceName}], {Capacity} LoRA slot(s)")]
    private partial void LogRegistered(string replicaId, string baseModel, string deviceKind, string deviceName, int capacity, string fingerprint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {ReplicaId} waits for a coordinator silo's grain manifest before registering")]
    private partial void LogAwaitingCoordinator(string replicaId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {ReplicaId} deregistered")]
    private partial void LogDeregistered(string replicaId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {ReplicaId} could not deregister; the coordinator will declare it dead after its heartbeat timeout")]
    private partial void LogDeregisterFailed(Exception exception, string replicaId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {ReplicaId} was declared down ({Reason}); dropping its adapters and registering again")]
    private partial void LogReregistering(string replicaId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {ReplicaId} heartbeat failed; retrying next period")]
    private partial void LogHeartbeatFailed(Exception exception, string replicaId);
}
