using Coordinator.Contracts.Training;

namespace Coordinator.TrainerHost.Configuration;

/// <summary>What a trainer host trains and how it joins (section <c>Trainer</c>).</summary>
public sealed class TrainerOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Trainer";

    /// <summary>The replica id, also this host's silo name; unique in the cluster. Default: trainer-{machine}-{silo port}.</summary>
    public string ReplicaId { get; set; } = "";

    /// <summary>Name of the base model this replica serves; models are created against it.</summary>
    public string BaseModel { get; set; } = "byte-gpt-tiny";

    /// <summary>Transformer layers of a base model built from <see cref="Seed"/>.</summary>
    public int Layers { get; set; } = 2;

    /// <summary>Model width.</summary>
    public int Width { get; set; } = 64;

    /// <summary>Attention heads; must divide <see cref="Width"/>.</summary>
    public int Heads { get; set; } = 4;

    /// <summary>Context length in tokens (bytes).</summary>
    public int ContextLength { get; set; } = 32;

    /// <summary>Vocabulary size; 256 for bytes.</summary>
    public int VocabularySize { get; set; } = 256;

    /// <summary>Seed of the base weights; every replica of a base model must use the same one (or the same file).</summary>
    public long Seed { get; set; } = 1234;

    /// <summary>A base model file (trainer-host save-base-model); overrides the shape and seed above.</summary>
    public string? BaseModelPath { get; set; }

    /// <summary>How many adapters this replica keeps loaded.</summary>
    public int LoraCapacity { get; set; } = 8;

    /// <summary>"auto" (CUDA when available), "cpu" or "cuda".</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Torch CPU threads; 0 for torch's default.</summary>
    public int CpuThreads { get; set; }

    /// <summary>Where relative save_state/load_state paths resolve; use storage every replica can read.</summary>
    public string StateDirectory { get; set; } = "state";

    /// <summary>How often the replica heartbeats; keep well below the coordinator's Replicas:HeartbeatTimeout.</summary>
    public TimeSpan HeartbeatPeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>With memory persistence (development clustering): the coordinator silo's silo endpoint, which holds membership.</summary>
    public string PrimarySiloEndpoint { get; set; } = "127.0.0.1:11111";

    /// <summary>The base model shape.</summary>
    public BaseModelSpec Spec => new(Layers, Width, Heads, ContextLength, VocabularySize, Seed);
}
