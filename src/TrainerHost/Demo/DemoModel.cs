using Coordinator.Contracts.Training;

namespace Coordinator.TrainerHost.Demo;

/// <summary>
/// What the demo trains: its base model (a small byte-level transformer built from a fixed seed: random, frozen, no
/// downloaded weights), the LoRA adapter on it, and the learning-rate schedule. Chosen so that two CPU cores learn
/// two-digit addition in about a minute.
/// </summary>
internal static class DemoModel
{
    public const string BaseModel = "demo-byte-gpt";

    public static BaseModelSpec Spec { get; } = new(Layers: 2, Width: 64, Heads: 4, ContextLength: 16, VocabularySize: 256, Seed: 1234);

    public static LoraConfig Lora { get; } = new(Rank: 8, Alpha: 16, TargetModules: ["qkv", "proj", "mlp_fc", "mlp_proj"], Seed: 1);

    /// <summary>Linear warm-up over the first 5% of steps, then cosine decay to a tenth of the peak.</summary>
    public static double LearningRate(double peak, int step, int steps)
    {
        var warmup = Math.Max(1, steps / 20);
        if (step <= warmup)
        {
            return peak * step / warmup;
        }

        var progress = (double)(step - warmup) / Math.Max(1, steps - warmup);
        return peak * (0.1 + (0.9 * 0.5 * (1 + Math.Cos(Math.PI * progress))));
    }
}
