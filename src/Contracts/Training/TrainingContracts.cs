using Coordinator.Contracts.Errors;

namespace Coordinator.Contracts.Training;

/// <summary>One training example: input token ids, the target token for each position and a per-position loss weight.</summary>
/// <remarks>All three arrays have the same length. A weight of 0 excludes a position from the loss (for example prompt tokens).</remarks>
[GenerateSerializer, Immutable]
public sealed record Datum(
    [property: Id(0)] int[] InputTokens,
    [property: Id(1)] int[] TargetTokens,
    [property: Id(2)] float[] LossWeights);

/// <summary>Adam optimizer parameters for one optimizer step.</summary>
[GenerateSerializer, Immutable]
public sealed record AdamParams(
    [property: Id(0)] double LearningRate,
    [property: Id(1)] double Beta1 = 0.9,
    [property: Id(2)] double Beta2 = 0.999,
    [property: Id(3)] double Eps = 1e-8,
    [property: Id(4)] double WeightDecay = 0.0,
    [property: Id(5)] double GradClipNorm = 0.0);

/// <summary>Sampling parameters.</summary>
[GenerateSerializer, Immutable]
public sealed record SamplingParams(
    [property: Id(0)] int MaxTokens,
    [property: Id(1)] double Temperature = 1.0,
    [property: Id(2)] double TopP = 1.0,
    [property: Id(3)] long Seed = 0,
    [property: Id(4)] int NumSamples = 1,
    [property: Id(5)] int[]? StopTokens = null);

/// <summary>When a unit of work was queued, started and finished on the trainer's device thread (UTC).</summary>
[GenerateSerializer, Immutable]
public sealed record StepTiming(
    [property: Id(0)] DateTimeOffset EnqueuedAt,
    [property: Id(1)] DateTimeOffset StartedAt,
    [property: Id(2)] DateTimeOffset FinishedAt)
{
    /// <summary>Time spent waiting in the device queue.</summary>
    public TimeSpan QueueTime => StartedAt - EnqueuedAt;

    /// <summary>Time spent computing.</summary>
    public TimeSpan ComputeTime => FinishedAt - StartedAt;
}

/// <summary>Result of a forward or forward_backward pass.</summary>
[GenerateSerializer, Immutable]
public sealed record ForwardResult(
    [property: Id(0)] double Loss,
    [property: Id(1)] int TokenCount,
    [property: Id(2)] StepTiming Timing);

/// <summary>Result of an optimizer step.</summary>
[GenerateSerializer, Immutable]
public sealed record OptimStepResult(
    [property: Id(0)] long Step,
    [property: Id(1)] double GradNorm,
    [property: Id(2)] StepTiming Timing);

/// <summary>Why sampling stopped.</summary>
public enum StopReason
{
    /// <summary>Reached the requested number of tokens.</summary>
    MaxTokens,
    /// <summary>Produced one of the stop tokens.</summary>
    StopToken,
    /// <summary>Reached the model's context length.</summary>
    ContextLength,
}

/// <summary>One sampled sequence.</summary>
[GenerateSerializer, Immutable]
public sealed record SampledSequence(
    [property: Id(0)] int[] Tokens,
    [property: Id(1)] float[] LogProbs,
    [property: Id(2)] StopReason StopReason);

/// <summary>Result of sampling.</summary>
[GenerateSerializer, Immutable]
public sealed record SampleResult(
    [property: Id(0)] IReadOnlyList<SampledSequence> Sequences,
    [property: Id(1)] StepTiming Timing);

/// <summary>Result of saving or loading adapter state.</summary>
[GenerateSerializer, Immutable]
public sealed record CheckpointResult(
    [property: Id(0)] string Path,
    [property: Id(1)] bool IncludesOptimizerState,
    [property: Id(2)] long Step,
    [property: Id(3)] StepTiming Timing);

/// <summary>LoRA adapter configuration.</summary>
[GenerateSerializer, Immutable]
public sealed record LoraConfig(
    [property: Id(0)] int Rank,
    [property: Id(1)] double Alpha,
    [property: Id(2)] IReadOnlyList<string> TargetModules,
    [property: Id(3)] long Seed)
{
    /// <summary>The projections of the base model LoRA can target, in the order adapters and their files list them.</summary>
    public static readonly IReadOnlyList<string> KnownTargetModules = ["qkv", "proj", "mlp_fc", "mlp_proj"];

    /// <summary>Largest LoRA rank accepted.</summary>
    public const int MaxRank = 1024;

    /// <summary>Throws <see cref="CoordinatorException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Require.Positive(Rank, "Lora.Rank");
        Require.Positive(Alpha, "Lora.Alpha");
        if (TargetModules is null || TargetModules.Count == 0)
        {
            throw CoordinatorException.InvalidArgument($"Lora.TargetModules must name at least one of: {string.Join(", ", KnownTargetModules)}.");
        }

        foreach (var module in TargetModules)
        {
            if (!KnownTargetModules.Contains(module))
            {
                throw CoordinatorException.InvalidArgument($"Lora.TargetModules has unknown module '{module}'; known: {string.Join(", ", KnownTargetModules)}.");
            }
        }

        if (TargetModules.Distinct(StringComparer.Ordinal).Count() != TargetModules.Count)
        {
            throw CoordinatorException.InvalidArgument("Lora.TargetModules must not repeat a module.");
        }

        if (Rank > MaxRank)
        {
            throw CoordinatorException.InvalidArgument($"Lora.Rank must be at most {MaxRank} (got {Rank}).");
        }
    }

    /// <summary>
    /// Whether weights of one config fit an adapter of the other: same rank, alpha and target modules (a set: order
    /// does not matter). The seed does not count: it only initialises weights.
    /// </summary>
    public bool SameShapeAs(LoraConfig other) =>
        other is not null && Rank == other.Rank && Alpha.Equals(other.Alpha)
        && TargetModules.Order(StringComparer.Ordinal).SequenceEqual(other.TargetModules.Order(StringComparer.Ordinal), StringComparer.Ordinal);

    /// <summary>Whether two configs make the same fresh adapter: the same shape and the same seed.</summary>
    public bool SameAs(LoraConfig other) => SameShapeAs(other) && Seed == other.Seed;
}

/// <summary>Shape of the byte-level decoder-only transformer used as a base model.</summary>
[GenerateSerializer, Immutable]
public sealed record BaseModelSpec(
    [property: Id(0)] int Layers = 4,
    [property: Id(1)] int Width = 128,
    [property: Id(2)] int Heads = 4,
    [property: Id(3)] int ContextLength = 128,
    [property: Id(4)] int VocabularySize = 256,
    [property: Id(5)] long Seed = 1234)
{
    /// <summary>
    /// Why a transformer of this shape cannot be built, one (field, problem) per broken rule; empty when it can. The
    /// trainer's configuration check and the engine both ask here.
    /// </summary>
    public IEnumerable<(string Field, string Problem)> Problems()
    {
        foreach (var (field, value) in new[] { ("Layers", Layers), ("Width", Width), ("Heads", Heads), ("ContextLength", ContextLength), ("VocabularySize", VocabularySize) })
        {
            if (value <= 0)
            {
                yield return (field, $"must be greater than 0 (got {value})");
            }
        }

        if (Heads > 0 && Width % Heads != 0)
        {
            yield return ("Heads", $"must divide Width ({Width}) (got {Heads})");
        }
    }
}
