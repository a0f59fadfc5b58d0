using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Orleans.Runtime.Placement;

namespace Coordinator.Grains.Placement;

/// <summary>
/// Places a trainer grain on the active silo whose name is the grain's key (the replica id). There is at most one:
/// trainer hosts name their silo after their replica. If that host is not an active member, activation fails with
/// <see cref="CoordinatorErrorCode.ReplicaUnavailable"/> instead of silently creating an empty trainer elsewhere.
/// </summary>
internal sealed class TrainerPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var replicaId = target.GrainIdentity.Key.ToString()!;
        var members = membership.CurrentSnapshot.Members;
        foreach (var silo in context.GetCompatibleSilos(target))
        {
            if (members.TryGetValue(silo, out var member) && member.Status == SiloStatus.Active && member.Name == replicaId)
            {
                return Task.FromResult(silo);
            }
        }

        throw new CoordinatorException(CoordinatorErrorCode.ReplicaUnavailable, $"Trainer host '{replicaId}' is not an active member of the cluster.");
    }
}
