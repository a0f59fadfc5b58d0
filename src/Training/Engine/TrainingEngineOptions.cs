using Coordinator.Contracts.Training;

namespace Coordinator.Training.Engine;

/// <summary>How a <see cref="TrainingEngine"/> builds its base model and picks its device.</summary>
public sealed class TrainingEngineOptions
{
    /// <summary>Shape and seed of the base model when <see cref="BaseModelPath"/> is not set.</summary>
    public BaseModelSpec Spec { get; set; } = new();

    /// <summary>A base model file written by <c>trainer-host save-base-model</c>; overrides <see cref="Spec"/>.</summary>
    public string? BaseModelPath { get; set; }

    /// <summary>"auto" (CUDA when available, otherwise CPU), "cpu" or "cuda".</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Threads torch uses for CPU compute; 0 keeps torch's default (one per core).</summary>
    public int CpuThreads { get; set; }

    /// <summary>Where relative save_state/load_state paths are resolved.</summary>
    public string StateDirectory { get; set; } = "state";
}
