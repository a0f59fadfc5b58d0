using Orleans.Placement;
using Coordinator.Contracts.Training;

namespace Coordinator.Contracts.Trainers;

/// <summary>
/// The trainer side of one replica (key: replica id). It lives only on the trainer host whose silo name is the
/// replica id (see <see cref="TrainerPlacementAttribute"/>), so a call reaches the process that holds the adapters,
/// and fails fast once that process has left the cluster. Model grains call it; user code goes through the model.
/// </summary>
public interface ITrainerGrain : IGrainWithStringKey
{
    /// <summary>Creates a fresh adapter (weights from <see cref="LoraConfig.Seed"/>) under <paramref name="adapterKey"/>; a no-op if it exists with the same config.</summary>
    Task LoadAdapterAsync(string adapterKey, LoraConfig lora);

    /// <summary>
    /// Runs one operation on an adapter on the trainer's device thread. The caller may send the next operations
    /// before this one answers: the trainer queues the operations of one adapter strictly in
    /// <paramref name="order"/>, whatever order the messages arrive in.
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task<OperationOutput> ExecuteAsync(string adapterKey, OperationOrder order, TrainingOperation operation);

    /// <summary>Frees an adapter; a no-op if it is not loaded.</summary>
    Task UnloadAdapterAsync(string adapterKey);
}

/// <summary>
/// Where an operation stands among those sent to one adapter: <paramref name="Sequence"/> counts from 1 within
/// <paramref name="Stream"/>, one stream per sender (a model grain activation) and placement. A new stream starting at
/// 1 supersedes the adapter's previous one.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record OperationOrder([property: Id(0)] string Stream, [property: Id(1)] long Sequence);

/// <summary>Places a trainer grain on the silo whose name equals the grain's key (the replica id).</summary>
[GenerateSerializer, Immutable]
public sealed class TrainerPlacementStrategy : PlacementStrategy
{
    /// <summary>The shared instance.</summary>
    public static readonly TrainerPlacementStrategy Instance = new();
}

/// <summary>Marks a grain class as living on the trainer host named by its key.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class TrainerPlacementAttribute : PlacementAttribute
{
    /// <summary>Uses <see cref="TrainerPlacementStrategy"/>.</summary>
    public TrainerPlacementAttribute()
        : base(TrainerPlacementStrategy.Instance)
    {
    }
}
