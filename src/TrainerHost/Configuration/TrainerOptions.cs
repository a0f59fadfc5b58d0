using System.ComponentModel.DataAnnotations;
using System.Net;
using Coordinator.Client.Configuration;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Microsoft.Extensions.Options;

namespace Coordinator.TrainerHost.Configuration;

/// <summary>What a trainer host trains and how it joins (section <c>Trainer</c>).</summary>
public sealed class TrainerOptions : ISectionOptions<TrainerOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Trainer";

    /// <inheritdoc />
    public static IValidateOptions<TrainerOptions> Validator { get; } = new TrainerOptionsValidator();

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
    [Range(1, RegisterReplicaRequest.MaxLoraCapacity)]
    public int LoraCapacity { get; set; } = 8;

    /// <summary>"auto" (CUDA when available), "cpu" or "cuda".</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Torch CPU threads; 0 for torch's default.</summary>
    [Range(0, 1024)]
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

/// <summary>Validates <see cref="TrainerOptions"/>.</summary>
internal sealed class TrainerOptionsValidator : IValidateOptions<TrainerOptions>
{
    public ValidateOptionsResult Validate(string? name, TrainerOptions options)
    {
        var section = TrainerOptions.SectionName;
        var errors = new List<string>();
        void Check(string key, Action check)
        {
            try
            {
                check();
            }
            catch (CoordinatorException ex)
            {
                errors.Add($"{section}:{key}: {ex.Message}");
            }
        }

        if (options.ReplicaId.Length > 0)
        {
            Check("ReplicaId", () => Require.Id(options.ReplicaId, "ReplicaId"));
        }

        Check("BaseModel", () => Require.Id(options.BaseModel, "BaseModel"));
        errors.AddRange(options.Spec.Problems().Select(p => $"{section}:{p.Field}: {p.Problem}."));

        if (options.BaseModelPath is { Length: > 0 } path && !File.Exists(path))
        {
            errors.Add($"{section}:BaseModelPath: file '{Path.GetFullPath(path)}' does not exist.");
        }

        if (options.Device is not ("auto" or "cpu" or "cuda"))
        {
            errors.Add($"{section}:Device: must be auto, cpu or cuda (got '{options.Device}').");
        }

        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            errors.Add($"{section}:StateDirectory: must not be empty.");
        }

        if (options.HeartbeatPeriod <= TimeSpan.Zero)
        {
            errors.Add($"{section}:HeartbeatPeriod: must be positive (got {options.HeartbeatPeriod}).");
        }

        if (!IPEndPoint.TryParse(options.PrimarySiloEndpoint, out _))
        {
            errors.Add($"{section}:PrimarySiloEndpoint: '{options.PrimarySiloEndpoint}' is not an address:port.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
