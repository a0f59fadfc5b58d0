using Coordinator.Contracts.Replicas;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.Grains.Replicas;

/// <summary>
/// Watches cluster membership on coordinator silos: when a silo is declared dead, the replica named like it (trainer
/// hosts name their silo after their replica) is declared dead at once, without waiting for its heartbeat timeout.
/// Every coordinator silo reports; the replica grain makes repeats no-ops.
/// </summary>
internal sealed partial class TrainerHostWatcher(IClusterMembershipService membership, IGrainFactory grains, ILogger<TrainerHostWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reported = new HashSet<SiloAddress>();
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                foreach (var member in snapshot.Members.Values)
                {
                    if (member.Status == SiloStatus.Dead && !string.IsNullOrEmpty(member.Name) && reported.Add(member.SiloAddress))
                    {
                        await ReportAsync(member);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReportAsync(ClusterMember member)
    {
        try
        {
            var replica = await grains.GetGrain<IReplicaGrain>(member.Name).ReportHostLostAsync(member.SiloAddress.ToParsableString(), $"silo {member.SiloAddress} was declared dead");
            if (replica is not null)
            {
                LogReported(member.Name, member.SiloAddress.ToString(), replica.Status);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The heartbeat timeout still declares the replica dead; this path only makes it faster.
            LogReportFailed(ex, member.Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Trainer host {ReplicaId} ({Silo}) left the cluster; replica is now {Status}")]
    private partial void LogReported(string replicaId, string silo, ReplicaStatus status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not report that trainer host {ReplicaId} left the cluster; its heartbeat timeout will")]
    private partial void LogReportFailed(Exception exception, string replicaId);
}
