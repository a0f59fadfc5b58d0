using Coordinator.Contracts.Training;
using Coordinator.Training.Tasks;

namespace Coordinator.Training.Tests;

public sealed class EngineTrainingTests
{
    [Fact]
    public async Task Loss_on_the_addition_task_falls_by_half_within_60_steps()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("a", TinyEngines.Lora());
        var evaluation = TinyEngines.Task.Batch(new Random(99), 64);
        var before = (await engine.ForwardAsync("a", evaluation)).Loss;

        await TinyEngines.TrainAsync(engine, "a", new Random(1), steps: 60);

        var after = (await engine.ForwardAsync("a", evaluation)).Loss;
        Assert.True(after < before * 0.5, $"held-out loss went from {before:F3} to {after:F3}; expected below half");
    }

    [Fact]
    public async Task Save_then_load_into_a_fresh_engine_continues_bit_for_bit()
    {
        using var dir = new TempDirectory();
        var lora = TinyEngines.Lora(seed: 5);

        // Uninterrupted run: 6 steps, saving after 3.
        using var first = await TinyEngines.StartAsync(dir.Path);
        await first.CreateAdapterAsync("m", lora);
        var random = new Random(11);
        await TinyEngines.TrainAsync(first, "m", random, steps: 3);
        var checkpoint = await first.SaveStateAsync("m", "at-3.state", includeOptimizerState: true);
        var continued = await TinyEngines.TrainAsync(first, "m", random, steps: 3);
        await first.SaveStateAsync("m", "uninterrupted.state", includeOptimizerState: true);

        // Resumed run: a new engine (a fresh replica) loads the step-3 state and sees the same batches.
        using var second = await TinyEngines.StartAsync(dir.Path);
        await second.CreateAdapterAsync("m2", lora);
        var loaded = await second.LoadStateAsync("m2", checkpoint.Path, includeOptimizerState: true);
        var resumedRandom = new Random(11);
        _ = TinyEngines.Task.Batch(resumedRandom, 16 * 3); // the three batches the first run consumed before saving
        var resumed = await TinyEngines.TrainAsync(second, "m2", resumedRandom, steps: 3);
        await second.SaveStateAsync("m2", "resumed.state", includeOptimizerState: true);

        Assert.Equal(3, loaded.Step);
        Assert.Equal(continued, resumed);
        Assert.Equal(File.ReadAllBytes(dir.File("uninterrupted.state")), File.ReadAllBytes(dir.File("resumed.state")));
    }

    [Fact]
    public async Task Training_one_adapter_leaves_another_on_the_same_engine_unchanged()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("trained", TinyEngines.Lora(seed: 1));
        await engine.CreateAdapterAsync("bystander", TinyEngines.Lora(seed: 2));
        await TinyEngines.TrainAsync(engine, "bystander", new Random(3), steps: 2);
        var probe = TinyEngines.Task.Batch(new Random(4), 8);
        var prompt = AdditionTask.Encode(AdditionTask.Prompt(3, 4));
        var sampling = new SamplingParams(MaxTokens: 4, Temperature: 1.0, Seed: 9, NumSamples: 3);
        var lossBefore = (await engine.ForwardAsync("bystander", probe)).Loss;
        var samplesBefore = await engine.SampleAsync("bystander", prompt, sampling);
        await engine.SaveStateAsync("bystander", "before.state", includeOptimizerState: true);

        var trainedLosses = await TinyEngines.TrainAsync(engine, "trained", new Random(5), steps: 5);

        Assert.NotEqual(trainedLosses[0], trainedLosses[^1]);
        Assert.Equal(lossBefore, (await engine.ForwardAsync("bystander", probe)).Loss);
        var samplesAfter = await engine.SampleAsync("bystander", prompt, sampling);
        Assert.Equal(samplesBefore.Sequences.Select(s => s.Tokens), samplesAfter.Sequences.Select(s => s.Tokens));
        Assert.Equal(samplesBefore.Sequences.Select(s => s.LogProbs), samplesAfter.Sequences.Select(s => s.LogProbs));
        await engine.SaveStateAsync("bystander", "after.state", includeOptimizerState: true);
        Assert.Equal(File.ReadAllBytes(dir.File("before.state")), File.ReadAllBytes(dir.File("after.state")));
    }

    [Fact]
    public async Task Fresh_adapters_with_different_seeds_both_give_the_base_model_loss()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("x", TinyEngines.Lora(seed: 1));
        await engine.CreateAdapterAsync("y", TinyEngines.Lora(seed: 2));
        var probe = TinyEngines.Task.Batch(new Random(4), 8);

        Assert.Equal((await engine.ForwardAsync("x", probe)).Loss, (await engine.ForwardAsync("y", probe)).Loss);
    }

    [Fact]
    public async Task Sampling_repeats_for_a_seed_honours_stop_tokens_and_reports_log_probabilities()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("s", TinyEngines.Lora());
        var prompt = AdditionTask.Encode("1+2=");
        var sampling = new SamplingParams(MaxTokens: 8, Temperature: 1.0, TopP: 0.9, Seed: 42, NumSamples: 4);

        var a = await engine.SampleAsync("s", prompt, sampling);
        var b = await engine.SampleAsync("s", prompt, sampling);
        var greedy = await engine.SampleAsync("s", prompt, sampling with { Temperature = 0, NumSamples = 1 });
        var stopAtFirst = await engine.SampleAsync("s", prompt, sampling with { StopTokens = [.. Enumerable.Range(0, 256)] });
        var tooLong = await engine.SampleAsync("s", prompt, sampling with { MaxTokens = 100 });

        Assert.Equal(a.Sequences.Select(s => s.Tokens), b.Sequences.Select(s => s.Tokens));
        Assert.All(a.Sequences, s =>
        {
            Assert.Equal(8, s.Tokens.Length);
            Assert.Equal(StopReason.MaxTokens, s.StopReason);
            Assert.All(s.LogProbs, lp => Assert.True(lp <= 0));
        });
        Assert.Equal(StopReason.MaxTokens, greedy.Sequences.Single().StopReason);
        Assert.All(stopAtFirst.Sequences, s => Assert.Equal((1, StopReason.StopToken), (s.Tokens.Length, s.StopReason)));
        Assert.All(tooLong.Sequences, s => Assert.Equal((TinyEngines.Spec.ContextLength - prompt.Length, StopReason.ContextLength), (s.Tokens.Length, s.StopReason)));
        Assert.True(a.Timing.EnqueuedAt <= a.Timing.StartedAt && a.Timing.StartedAt <= a.Timing.FinishedAt);
    }

    [Fact]
    public async Task A_base_model_file_round_trips_with_its_fingerprint()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.SaveBaseModelAsync(dir.File("base.model"));
        using var loaded = await Engine.TrainingEngine.StartAsync(new Engine.TrainingEngineOptions { BaseModelPath = dir.File("base.model"), Device = "cpu", StateDirectory = dir.Path });
        await engine.CreateAdapterAsync("a", TinyEngines.Lora());
        await loaded.CreateAdapterAsync("a", TinyEngines.Lora());
        var probe = TinyEngines.Task.Batch(new Random(4), 8);

        Assert.Equal(engine.Spec, loaded.Spec);
        Assert.Equal(engine.BaseModelFingerprint, loaded.BaseModelFingerprint);
        Assert.Equal((await engine.ForwardAsync("a", probe)).Loss, (await loaded.ForwardAsync("a", probe)).Loss);
    }

    [Fact]
    public async Task Disposing_an_engine_twice_frees_it_once_and_does_not_throw()
    {
        // A host disposes a service once for each registration that resolved it (the trainer host's runtime is both a
        // singleton and a hosted service): the second call must do nothing.
        using var dir = new TempDirectory();
        var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("a", TinyEngines.Lora());

        engine.Dispose();
        engine.Dispose();

        Assert.Empty(engine.Adapters);
    }
}
