using Coordinator.Contracts.Training;
using Coordinator.Training.Engine;
using Coordinator.Training.Tasks;

namespace Coordinator.Training.Tests;

/// <summary>Real TorchSharp engines with a tiny base model, on CPU with one thread so results repeat exactly.</summary>
internal static class TinyEngines
{
    public static readonly BaseModelSpec Spec = new(Layers: 2, Width: 32, Heads: 2, ContextLength: 16, VocabularySize: 256, Seed: 7);

    public static readonly AdditionTask Task = new(maxOperand: 20);

    public static readonly AdamParams Adam = new(LearningRate: 1e-2);

    public static LoraConfig Lora(long seed = 1, int rank = 4) => new(rank, 8, ["qkv", "proj", "mlp_fc", "mlp_proj"], seed);

    public static Task<TrainingEngine> StartAsync(string stateDirectory) =>
        TrainingEngine.StartAsync(new TrainingEngineOptions { Spec = Spec, Device = "cpu", CpuThreads = 1, StateDirectory = stateDirectory });

    /// <summary>Trains <paramref name="steps"/> steps on batches drawn from <paramref name="random"/>; returns each step's loss.</summary>
    public static async Task<List<double>> TrainAsync(TrainingEngine engine, string adapter, Random random, int steps, int batchSize = 16)
    {
        var losses = new List<double>();
        for (var i = 0; i < steps; i++)
        {
            var result = await engine.ForwardBackwardAsync(adapter, Task.Batch(random, batchSize));
            await engine.OptimStepAsync(adapter, Adam);
            losses.Add(result.Loss);
        }

        return losses;
    }
}

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("coordinator-training-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
