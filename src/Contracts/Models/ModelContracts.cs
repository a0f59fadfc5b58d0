using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;

namespace Coordinator.Contracts.Models;

/// <summary>Where a model (LoRA adapter) is in its life.</summary>
public enum ModelStatus
{
    /// <summary>The model does not exist.</summary>
    None = 0,
    /// <summary>Created, not placed on any replica.</summary>
    Created = 1,
    /// <summary>Holds a LoRA slot on a replica; not yet loaded there.</summary>
    Placed = 2,
    /// <summary>Loaded on its replica and ready for training operations.</summary>
    Loaded = 3,
    /// <summary>Unloaded (by its owner or because its replica died); may be placed again.</summary>
    Unloaded = 4,
    /// <summary>Loading the adapter on its replica failed and the slot was released; may be placed again.</summary>
    Failed = 5,
    /// <summary>Its session ended; terminal.</summary>
    Released = 6,
}

/// <summary>Request to create a model in a session.</summary>
[GenerateSerializer, Immutable]
public sealed record CreateModelRequest(
    [property: Id(0)] string BaseModel,
    [property: Id(1)] LoraConfig Lora)
{
    /// <summary>Throws <see cref="CoordinatorException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Require.Id(BaseModel, nameof(BaseModel));
        if (Lora is null)
        {
            throw CoordinatorException.InvalidArgument("Lora must be given.");
        }

        Lora.Validate();
    }
}

/// <summary>A model as seen by callers.</summary>
[GenerateSerializer, Immutable]
public sealed record ModelInfo(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string SessionId,
    [property: Id(2)] string BaseModel,
    [property: Id(3)] LoraConfig Lora,
    [property: Id(4)] ModelStatus Status,
    [property: Id(5)] string? ReplicaId,
    [property: Id(6)] string? LastReplicaId,
    [property: Id(7)] long StepCount,
    [property: Id(8)] string? LastSavedStatePath,
    [property: Id(9)] string? FailureReason,
    [property: Id(10)] DateTimeOffset CreatedAt,
    [property: Id(11)] DateTimeOffset UpdatedAt);

/// <summary>
/// How a model's placement keys are made: the model and the placement's generation. The key names the model's adapter
/// on its trainer and its slot in the capacity registry.
/// </summary>
public static class PlacementKeys
{
    /// <summary>The key of placement <paramref name="generation"/> of model <paramref name="modelId"/>.</summary>
    public static string Of(string modelId, long generation) => $"{modelId}/{generation}";

    /// <summary>The model a placement key belongs to.</summary>
    public static string ModelOf(string placementKey)
    {
        ArgumentNullException.ThrowIfNull(placementKey);
        var slash = placementKey.LastIndexOf('/');
        return slash < 0 ? placementKey : placementKey[..slash];
    }
}
