using Coordinator.Contracts.Capacity;

namespace Coordinator.Contracts.Errors;

/// <summary>No replica of a base model had a free LoRA slot; carries what was free so the caller can decide what to do.</summary>
[GenerateSerializer]
public sealed class NoCapacityException : CoordinatorException
{
    /// <summary>Creates the exception from the capacity snapshot taken when placement failed.</summary>
    public NoCapacityException(CapacitySnapshot snapshot)
        : base(CoordinatorErrorCode.NoCapacity, Describe(snapshot)) => Snapshot = snapshot;

    /// <summary>The capacity of the base model when placement failed.</summary>
    [Id(0)]
    public CapacitySnapshot Snapshot { get; private set; }

    private static string Describe(CapacitySnapshot s)
    {
        if (s.Replicas.Count == 0)
        {
            return $"No capacity for base model '{s.BaseModel}': no replica of it is registered.";
        }

        var parts = s.Replicas.Select(r => $"{r.ReplicaId}: {r.Used}/{r.Capacity} used{(r.Draining ? ", draining" : "")}");
        return $"No capacity for base model '{s.BaseModel}': {s.TotalFree} free slot(s) on accepting replicas ({string.Join("; ", parts)}).";
    }
}
