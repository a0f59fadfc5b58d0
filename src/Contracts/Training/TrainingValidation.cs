using Coordinator.Contracts.Errors;

namespace Coordinator.Contracts.Training;

/// <summary>
/// Checks of training inputs shared by the client facade, the model grain and the trainer, so each rejects bad
/// input with the same words. The vocabulary and context length are known only where the base model is: pass
/// them when known.
/// </summary>
public static class TrainingValidation
{
    /// <summary>Most examples one forward or forward_backward call may carry.</summary>
    public const int MaxBatchSize = 4096;

    /// <summary>Most sequences one sample call may ask for.</summary>
    public const int MaxSamples = 256;

    /// <summary>Checks a batch of examples.</summary>
    public static void Batch(IReadOnlyList<Datum>? batch, int? vocabularySize = null, int? contextLength = null)
    {
        if (batch is null || batch.Count == 0)
        {
            throw CoordinatorException.InvalidArgument("Batch must contain at least one example.");
        }

        if (batch.Count > MaxBatchSize)
        {
            throw CoordinatorException.InvalidArgument($"Batch must contain at most {MaxBatchSize} examples (got {batch.Count}).");
        }

        var weightSum = 0.0;
        for (var i = 0; i < batch.Count; i++)
        {
            var datum = batch[i] ?? throw CoordinatorException.InvalidArgument($"Batch[{i}] must not be null.");
            if (datum.InputTokens is null || datum.TargetTokens is null || datum.LossWeights is null)
            {
                var missing = datum.InputTokens is null ? "InputTokens" : datum.TargetTokens is null ? "TargetTokens" : "LossWeights";
                throw CoordinatorException.InvalidArgument($"Batch[{i}].{missing} must be given (InputTokens, TargetTokens and LossWeights are all required).");
            }

            var length = datum.InputTokens.Length;
            if (length == 0)
            {
                throw CoordinatorException.InvalidArgument($"Batch[{i}].InputTokens must not be empty.");
            }

            if (datum.TargetTokens.Length != length || datum.LossWeights.Length != length)
            {
                throw CoordinatorException.InvalidArgument(
                    $"Batch[{i}] has mismatched lengths: InputTokens {length}, TargetTokens {datum.TargetTokens.Length}, LossWeights {datum.LossWeights.Length}.");
            }

            if (contextLength is { } context && length > context)
            {
                throw CoordinatorException.InvalidArgument($"Batch[{i}] has {length} tokens; the base model's context length is {context}.");
            }

            Tokens(datum.InputTokens, $"Batch[{i}].InputTokens", vocabularySize);
            Tokens(datum.TargetTokens, $"Batch[{i}].TargetTokens", vocabularySize);
            for (var t = 0; t < length; t++)
            {
                var w = datum.LossWeights[t];
                if (!float.IsFinite(w) || w < 0)
                {
                    throw CoordinatorException.InvalidArgument($"Batch[{i}].LossWeights[{t}] must be a finite number >= 0 (got {w}).");
                }

                weightSum += w;
            }
        }

        if (weightSum <= 0)
        {
            throw CoordinatorException.InvalidArgument("Batch has no position with a loss weight above 0.");
        }
    }

    /// <summary>Checks Adam parameters.</summary>
    public static void Adam(AdamParams? adam)
    {
        if (adam is null)
        {
            throw CoordinatorException.InvalidArgument("Adam parameters must be given.");
        }

        Require.Positive(adam.LearningRate, "Adam.LearningRate");
        if (!(adam.Beta1 >= 0 && adam.Beta1 < 1))
        {
            throw CoordinatorException.InvalidArgument($"Adam.Beta1 must be in [0, 1) (got {adam.Beta1}).");
        }

        if (!(adam.Beta2 >= 0 && adam.Beta2 < 1))
        {
            throw CoordinatorException.InvalidArgument($"Adam.Beta2 must be in [0, 1) (got {adam.Beta2}).");
        }

        Require.Positive(adam.Eps, "Adam.Eps");
        if (!double.IsFinite(adam.WeightDecay) || adam.WeightDecay < 0)
        {
            throw CoordinatorException.InvalidArgument($"Adam.WeightDecay must be a finite number >= 0 (got {adam.WeightDecay}).");
        }

        if (!double.IsFinite(adam.GradClipNorm) || adam.GradClipNorm < 0)
        {
            throw CoordinatorException.InvalidArgument($"Adam.GradClipNorm must be a finite number >= 0, 0 meaning no clipping (got {adam.GradClipNorm}).");
        }
    }

    /// <summary>Checks a sampling request.</summary>
    public static void Sampling(int[]? prompt, SamplingParams? sampling, int? vocabularySize = null, int? contextLength = null)
    {
        if (prompt is null || prompt.Length == 0)
        {
            throw CoordinatorException.InvalidArgument("Prompt must contain at least one token.");
        }

        Tokens(prompt, "Prompt", vocabularySize);
        if (sampling is null)
        {
            throw CoordinatorException.InvalidArgument("Sampling parameters must be given.");
        }

        Require.Positive(sampling.MaxTokens, "Sampling.MaxTokens");
        if (contextLength is { } context && prompt.Length >= context)
        {
            throw CoordinatorException.InvalidArgument($"Prompt has {prompt.Length} tokens; it must be shorter than the base model's context length {context}.");
        }

        if (!double.IsFinite(sampling.Temperature) || sampling.Temperature < 0)
        {
            throw CoordinatorException.InvalidArgument($"Sampling.Temperature must be a finite number >= 0, 0 meaning greedy (got {sampling.Temperature}).");
        }

        if (!(sampling.TopP > 0 && sampling.TopP <= 1))
        {
            throw CoordinatorException.InvalidArgument($"Sampling.TopP must be in (0, 1] (got {sampling.TopP}).");
        }

        if (sampling.NumSamples < 1 || sampling.NumSamples > MaxSamples)
        {
            throw CoordinatorException.InvalidArgument($"Sampling.NumSamples must be between 1 and {MaxSamples} (got {sampling.NumSamples}).");
        }

        if (sampling.StopTokens is { } stops)
        {
            Tokens(stops, "Sampling.StopTokens", vocabularySize);
        }
    }

    /// <summary>Checks a save_state/load_state path.</summary>
    public static void StatePath(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw CoordinatorException.InvalidArgument("Path must not be empty.");
        }

        if (path.Any(char.IsControl))
        {
            throw CoordinatorException.InvalidArgument("Path must not contain control characters.");
        }
    }

    private static void Tokens(int[] tokens, string name, int? vocabularySize)
    {
        var limit = vocabularySize ?? int.MaxValue;
        for (var t = 0; t < tokens.Length; t++)
        {
            if (tokens[t] < 0 || tokens[t] >= limit)
            {
                var range = vocabularySize is { } v ? $"in [0, {v})" : ">= 0";
                throw CoordinatorException.InvalidArgument($"{name}[{t}] = {tokens[t]} is not a token id {range}.");
            }
        }
    }
}
