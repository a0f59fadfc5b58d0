namespace Coordinator.Contracts.Replicas;

/// <summary>One trainer replica (key: replica id): its base model, LoRA capacity, device and health.</summary>
public interface IReplicaGrain : IGrainWithStringKey
{
    /// <summary>Registers (or re-registers after death) the replica and offers its slots for placement.</summary>
    Task<ReplicaInfo> RegisterAsync(RegisterReplicaRequest request);

    /// <summary>Records a heartbeat. Fails with InvalidState if the replica was declared dead or deregistered.</summary>
    Task<ReplicaInfo> HeartbeatAsync();

    /// <summary>Stops new placements on this replica; loaded adapters stay.</summary>
    Task<ReplicaInfo> DrainAsync();

    /// <summary>Leaves: releases every adapter placed here.</summary>
    Task<ReplicaInfo> DeregisterAsync();

    /// <summary>
    /// The cluster declared a trainer host dead (membership). If it is the host this replica registered from
    /// (<see cref="RegisterReplicaRequest.Endpoint"/> equals <paramref name="hostEndpoint"/>), the replica is declared dead at
    /// once and its adapters are released; otherwise (unknown replica, already down, or re-registered from a new host) a no-op.
    /// </summary>
    Task<ReplicaInfo?> ReportHostLostAsync(string hostEndpoint, string reason);

    /// <summary>Returns the replica; declares it dead first if its heartbeat is overdue.</summary>
    Task<ReplicaInfo> GetAsync();
}
