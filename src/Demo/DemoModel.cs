using Coordinator.Contracts.Training;

namespace Coordinator.Demo;

/// <summary>
/// What the demo trains: its base model (a small byte-level transformer built from a fixed seed: random, frozen, no
/// downloaded weights), the LoRA adapter on it, and the learning-rate schedule. Chosen so that two CPU cores learn
/// two-digit addition in about half a minute of training (4500 steps of 32 problems).
/// </summary>
internal static class DemoModel
{
    public const string BaseModel = "demo-byte-gpt";

    public static BaseModelSpec Spec { get; } = new(Layers: 2, Width: 64, Heads: 4, ContextLength: 32, VocabularySize: 256, Seed: 1234);

    public static LoraConfig Lora { get; } = new(Rank: 8, Alpha: 16, TargetModules: LoraConfig.KnownTargetModules, Seed: 1);

    /// <summary>
    /// Linear warm-up over 100 steps (a tenth of a shorter run), then cosine decay to a tenth of the peak. A constant
    /// rate learns the task more slowly, and a higher peak keeps the loss on the plateau it starts on (about 1.8).
    /// </summary>
    public static double LearningRate(double peak, int step, int steps)
    {
        var warmup = Math.Clamp(steps / 10, 1, 100);
        if (step <= warmup)
        {
            return peak * step / warmup;
        }

        var progress = (double)(step - warmup) / Math.Max(1, steps - warmup);
        return peak * (0.1 + (0.9 * 0.5 * (1 + Math.Cos(Math.PI * progress))));
    }
}
