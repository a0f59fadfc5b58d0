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
    /// Runs one operation on an adapter on the trainer's device thread, at most once. The caller may send the next
    /// operations before this one answers: the trainer starts the operations of one adapter strictly in
    /// <paramref name="order"/>, whatever order the messages arrive in. An operation sent again (the same sequence:
    /// a model grain that failed over re-sends what it had not seen finish) is not run again; its recorded outcome is
    /// returned (its output, or the same error).
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task<OperationOutput> ExecuteAsync(string adapterKey, OperationOrder order, TrainingOperation operation);

    /// <summary>
    /// What the trainer knows of an adapter's operations: the last sequence it started, and the recorded outcome of
    /// each of <paramref name="sequences"/> it has run (those it has not are left out). A model grain reconciles its
    /// operation log with this after a failover. NotFound when the adapter is not loaded here.
    /// </summary>
    Task<AdapterProgress> GetProgressAsync(string adapterKey, IReadOnlyList<long> sequences);

    /// <summary>Frees an adapter; a no-op if it is not loaded.</summary>
    Task UnloadAdapterAsync(string adapterKey);
}

/// <summary>
/// Where an operation stands among those sent to one adapter: <paramref name="Sequence"/> is the operation's number in
/// its model's persisted log (it never changes, so a re-sent operation is recognised), and <paramref name="Previous"/>
/// the sequence of the operation sent to the adapter before it (0 for the first), which must have started first.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record OperationOrder([property: Id(0)] long Sequence, [property: Id(1)] long Previous);

/// <summary>The recorded outcome of one operation on a trainer: its output, or the error it failed with.</summary>
[GenerateSerializer, Immutable]
public sealed record RecordedOutcome(
    [property: Id(0)] long Sequence,
    [property: Id(1)] OperationOutput? Output,
    [property: Id(2)] Errors.CoordinatorErrorCode? ErrorCode,
    [property: Id(3)] string? ErrorMessage);

/// <summary>What a trainer knows of one adapter's operations (see <see cref="ITrainerGrain.GetProgressAsync"/>).</summary>
[GenerateSerializer, Immutable]
public sealed record AdapterProgress(
    [property: Id(0)] long LastStarted,
    [property: Id(1)] IReadOnlyList<RecordedOutcome> Outcomes);

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
