using Coordinator.Contracts.Training;
using Coordinator.Training.Tasks;

namespace Coordinator.Training.Tests;

/// <summary>
/// TorchSharp frees a native Scalar when its managed object is finalized, and a Scalar made implicitly is unreachable
/// while torch reads it (see HeldScalars). With a thread forcing collections all the time, the engine as it was failed
/// a training step within about a thousand steps here; it must never fail.
/// </summary>
public sealed class GarbageCollectionTests
{
    [Fact]
    public async Task Training_and_sampling_survive_constant_garbage_collection()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("a", TinyEngines.Lora());
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        })
        {
            IsBackground = true,
        };
        collector.Start();
        try
        {
            var random = new Random(1);
            var sampling = new SamplingParams(MaxTokens: 4, Temperature: 0.8, TopP: 0.9, Seed: 3);
            for (var i = 0; i < 2500; i++)
            {
                await engine.ForwardBackwardAsync("a", TinyEngines.Task.Batch(random, 16));
                await engine.OptimStepAsync("a", TinyEngines.Adam with { WeightDecay = 0.01, GradClipNorm = 0.5 });
                if (i % 50 == 0)
                {
                    await engine.SampleAsync("a", AdditionTask.Encode(AdditionTask.Prompt(i % 20, 3)), sampling);
                }
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }
}
