using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;
using Coordinator.Training.Engine;
using Coordinator.Training.Tasks;

namespace Coordinator.Training.Tests;

/// <summary>
/// Bad input at the engine API: every call must fail with a <see cref="CoordinatorException"/> of the right code and a
/// message naming what was wrong, and leave the adapter exactly as it was (weights, Adam moments, step and any
/// accumulated gradients). Each test checks that by saving the adapter before and after (byte-identical files) and
/// by comparing it with a twin adapter that saw the same good calls but not the bad one.
/// </summary>
public sealed class EngineBadInputTests
{
    private const string Key = "m";
    private const string Twin = "twin";

    // ---- forward / forward_backward -------------------------------------------------------------------------------

    [Theory]
    [InlineData("InputTokens", 256)]
    [InlineData("InputTokens", -1)]
    [InlineData("TargetTokens", 256)]
    [InlineData("TargetTokens", -1)]
    [InlineData("InputTokens", int.MaxValue)]
    public async Task Forward_backward_rejects_out_of_vocabulary_token_ids(string field, int token)
    {
        using var f = await Fixture.StartAsync();
        var bad = Good(8);
        (field == "InputTokens" ? bad.InputTokens : bad.TargetTokens)[2] = token;

        await f.RejectedForwardBackwardAsync([Good(5), bad], $"Batch[1].{field}[2] = {token} is not a token id in [0, 256)");
    }

    [Fact]
    public async Task Forward_rejects_out_of_vocabulary_token_ids_too()
    {
        using var f = await Fixture.StartAsync();
        var bad = Good(8);
        bad.TargetTokens[7] = 256;

        await f.RejectedAsync(e => e.ForwardAsync(Key, [bad]), CoordinatorErrorCode.InvalidArgument, "Batch[0].TargetTokens[7] = 256");
        await f.RejectedAsync(e => e.ExecuteAsync(Key, new ForwardOperation([bad])), CoordinatorErrorCode.InvalidArgument, "Batch[0].TargetTokens[7] = 256");
        await f.AssertNoGradientsAsync();
    }

    [Fact]
    public async Task Forward_backward_rejects_an_empty_batch()
    {
        using var f = await Fixture.StartAsync();

        await f.RejectedForwardBackwardAsync([], "Batch must contain at least one example");
    }

    [Fact]
    public async Task Forward_backward_rejects_a_null_batch_and_a_null_example()
    {
        using var f = await Fixture.StartAsync();

        await f.RejectedForwardBackwardAsync(null!, "Batch must contain at least one example");
        await f.RejectedForwardBackwardAsync([Good(4), null!], "Batch[1] must not be null");
    }

    [Theory]
    [InlineData("InputTokens")]
    [InlineData("TargetTokens")]
    [InlineData("LossWeights")]
    public async Task Forward_backward_rejects_a_missing_array_and_names_it(string field)
    {
        using var f = await Fixture.StartAsync();
        var good = Good(6);
        var bad = field switch
        {
            "InputTokens" => good with { InputTokens = null! },
            "TargetTokens" => good with { TargetTokens = null! },
            _ => good with { LossWeights = null! },
        };

        await f.RejectedForwardBackwardAsync([Good(4), bad], $"Batch[1].{field} must be given");
    }

    [Fact]
    public async Task Forward_backward_rejects_empty_arrays()
    {
        using var f = await Fixture.StartAsync();

        await f.RejectedForwardBackwardAsync([new Datum([], [], [])], "Batch[0].InputTokens must not be empty");
    }

    [Theory]
    [InlineData(8, 7, 8, "TargetTokens 7")]
    [InlineData(8, 9, 8, "TargetTokens 9")]
    [InlineData(8, 8, 7, "LossWeights 7")]
    [InlineData(8, 8, 0, "LossWeights 0")]
    [InlineData(8, 0, 0, "TargetTokens 0, LossWeights 0")]
    public async Task Forward_backward_rejects_mismatched_lengths(int inputs, int targets, int weights, string expected)
    {
        using var f = await Fixture.StartAsync();
        var bad = new Datum(Tokens(inputs), Tokens(targets), Weights(weights));

        var error = await f.RejectedForwardBackwardAsync([Good(5), bad], "Batch[1] has mismatched lengths", expected);
        Assert.Contains($"InputTokens {inputs}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(17)]
    [InlineData(64)]
    public async Task Forward_backward_rejects_a_sequence_longer_than_the_context(int length)
    {
        using var f = await Fixture.StartAsync();

        await f.RejectedForwardBackwardAsync(
            [Good(length)],
            $"Batch[0] has {length} tokens",
            $"context length is {TinyEngines.Spec.ContextLength}");
    }

    [Fact]
    public async Task Forward_backward_rejects_a_batch_whose_loss_weights_are_all_zero()
    {
        using var f = await Fixture.StartAsync();
        var zero = new Datum(Tokens(8), Tokens(8), new float[8]);

        await f.RejectedForwardBackwardAsync([zero, zero with { LossWeights = new float[8] }], "no position with a loss weight above 0");
    }

    [Theory]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public async Task Forward_backward_rejects_a_negative_or_non_finite_loss_weight(float weight)
    {
        using var f = await Fixture.StartAsync();
        var bad = Good(8);
        bad.LossWeights[3] = weight;

        await f.RejectedForwardBackwardAsync([bad], "Batch[0].LossWeights[3] must be a finite number >= 0");
    }

    [Fact]
    public async Task Boundary_inputs_just_inside_the_limits_are_accepted()
    {
        using var f = await Fixture.StartAsync();
        var context = TinyEngines.Spec.ContextLength;
        var longest = new Datum([0, .. Tokens(context - 2), 255], [255, .. Tokens(context - 2), 0], Weights(context));

        await f.Engine.ForwardBackwardAsync(Key, [longest]);
        await f.Engine.OptimStepAsync(Key, TinyEngines.Adam);
        var sample = await f.Engine.SampleAsync(Key, Tokens(context - 1), new SamplingParams(MaxTokens: 5, Temperature: 0, TopP: 1));

        // One token fills the context, then sampling stops there.
        Assert.Equal(StopReason.ContextLength, sample.Sequences.Single().StopReason);
        Assert.Single(sample.Sequences.Single().Tokens);
    }

    // ---- optim_step ---------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("LearningRate", -1e-3)]
    [InlineData("LearningRate", 0.0)]
    [InlineData("LearningRate", double.NaN)]
    [InlineData("LearningRate", double.PositiveInfinity)]
    [InlineData("Beta1", 1.0)]
    [InlineData("Beta1", -0.1)]
    [InlineData("Beta1", double.NaN)]
    [InlineData("Beta2", 1.0)]
    [InlineData("Beta2", 1.5)]
    [InlineData("Beta2", double.NaN)]
    [InlineData("Eps", 0.0)]
    [InlineData("WeightDecay", -0.1)]
    [InlineData("GradClipNorm", double.NaN)]
    public async Task Optim_step_rejects_bad_adam_parameters_and_keeps_the_gradients(string field, double value)
    {
        using var f = await Fixture.StartAsync();
        await f.AccumulateGradientsAsync();
        var adam = field switch
        {
            "LearningRate" => TinyEngines.Adam with { LearningRate = value },
            "Beta1" => TinyEngines.Adam with { Beta1 = value },
            "Beta2" => TinyEngines.Adam with { Beta2 = value },
            "Eps" => TinyEngines.Adam with { Eps = value },
            "WeightDecay" => TinyEngines.Adam with { WeightDecay = value },
            _ => TinyEngines.Adam with { GradClipNorm = value },
        };

        await f.RejectedAsync(e => e.OptimStepAsync(Key, adam), CoordinatorErrorCode.InvalidArgument, $"Adam.{field}");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Fact]
    public async Task Optim_step_rejects_missing_adam_parameters()
    {
        using var f = await Fixture.StartAsync();
        await f.AccumulateGradientsAsync();

        await f.RejectedAsync(e => e.OptimStepAsync(Key, null!), CoordinatorErrorCode.InvalidArgument, "Adam parameters must be given");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Fact]
    public async Task Optim_step_without_accumulated_gradients_is_an_invalid_state()
    {
        using var f = await Fixture.StartAsync();

        // Right after a step (which clears the gradients), and after a forward pass (which computes none).
        await f.RejectedAsync(e => e.OptimStepAsync(Key, TinyEngines.Adam), CoordinatorErrorCode.InvalidState, $"Adapter '{Key}' has no accumulated gradients");
        await f.Engine.ForwardAsync(Key, TinyEngines.Task.Batch(new Random(3), 4));
        await f.RejectedAsync(e => e.OptimStepAsync(Key, TinyEngines.Adam), CoordinatorErrorCode.InvalidState, "no accumulated gradients");

        // And on an adapter that was never trained.
        await f.Engine.CreateAdapterAsync("fresh", TinyEngines.Lora());
        var error = await Assert.ThrowsAsync<CoordinatorException>(() => f.Engine.OptimStepAsync("fresh", TinyEngines.Adam));
        Assert.Equal(CoordinatorErrorCode.InvalidState, error.Code);
        Assert.Contains("Adapter 'fresh' has no accumulated gradients", error.Message, StringComparison.Ordinal);
    }

    // ---- sample -------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Sample_rejects_an_empty_or_missing_prompt()
    {
        using var f = await Fixture.StartAsync();
        var sampling = new SamplingParams(MaxTokens: 4);

        await f.RejectedAsync(e => e.SampleAsync(Key, [], sampling), CoordinatorErrorCode.InvalidArgument, "Prompt must contain at least one token");
        await f.RejectedAsync(e => e.SampleAsync(Key, null!, sampling), CoordinatorErrorCode.InvalidArgument, "Prompt must contain at least one token");
        await f.RejectedAsync(e => e.SampleAsync(Key, AdditionTask.Encode("1+2="), null!), CoordinatorErrorCode.InvalidArgument, "Sampling parameters must be given");
    }

    [Theory]
    [InlineData(16)]
    [InlineData(40)]
    public async Task Sample_rejects_a_prompt_that_fills_the_context(int length)
    {
        using var f = await Fixture.StartAsync();

        await f.RejectedAsync(
            e => e.SampleAsync(Key, Tokens(length), new SamplingParams(MaxTokens: 4)),
            CoordinatorErrorCode.InvalidArgument,
            $"Prompt has {length} tokens",
            $"shorter than the base model's context length {TinyEngines.Spec.ContextLength}");
    }

    [Theory]
    [InlineData(256)]
    [InlineData(-1)]
    public async Task Sample_rejects_out_of_vocabulary_prompt_and_stop_tokens(int token)
    {
        using var f = await Fixture.StartAsync();
        var prompt = AdditionTask.Encode("1+2=");

        await f.RejectedAsync(e => e.SampleAsync(Key, [.. prompt, token], new SamplingParams(4)), CoordinatorErrorCode.InvalidArgument, $"Prompt[4] = {token} is not a token id");
        await f.RejectedAsync(e => e.SampleAsync(Key, prompt, new SamplingParams(4, StopTokens: [10, token])), CoordinatorErrorCode.InvalidArgument, $"Sampling.StopTokens[1] = {token}");
    }

    [Theory]
    [InlineData("TopP", 0.0)]
    [InlineData("TopP", -0.5)]
    [InlineData("TopP", 1.01)]
    [InlineData("TopP", double.NaN)]
    [InlineData("Temperature", -1.0)]
    [InlineData("Temperature", double.NaN)]
    [InlineData("Temperature", double.PositiveInfinity)]
    [InlineData("MaxTokens", 0)]
    [InlineData("NumSamples", 0)]
    [InlineData("NumSamples", 257)]
    public async Task Sample_rejects_bad_sampling_parameters(string field, double value)
    {
        using var f = await Fixture.StartAsync();
        var good = new SamplingParams(MaxTokens: 4, Temperature: 1, TopP: 0.9, Seed: 3, NumSamples: 2);
        var bad = field switch
        {
            "TopP" => good with { TopP = value },
            "Temperature" => good with { Temperature = value },
            "MaxTokens" => good with { MaxTokens = (int)value },
            _ => good with { NumSamples = (int)value },
        };

        await f.RejectedAsync(e => e.SampleAsync(Key, AdditionTask.Encode("1+2="), bad), CoordinatorErrorCode.InvalidArgument, $"Sampling.{field}");
    }

    // ---- adapters -----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Every_operation_on_an_unknown_adapter_is_not_found()
    {
        using var f = await Fixture.StartAsync();
        await f.Engine.SaveStateAsync(Key, "good.state", includeOptimizerState: true);
        var batch = TinyEngines.Task.Batch(new Random(2), 4);
        Func<TrainingEngine, Task>[] calls =
        [
            e => e.ForwardAsync("nope", batch),
            e => e.ForwardBackwardAsync("nope", batch),
            e => e.OptimStepAsync("nope", TinyEngines.Adam),
            e => e.SampleAsync("nope", AdditionTask.Encode("1+2="), new SamplingParams(4)),
            e => e.SaveStateAsync("nope", "nope.state", includeOptimizerState: true),
            e => e.LoadStateAsync("nope", "good.state", includeOptimizerState: true),
            e => e.ExecuteAsync("nope", new OptimStepOperation(TinyEngines.Adam)),
        ];

        foreach (var call in calls)
        {
            await f.RejectedAsync(call, CoordinatorErrorCode.NotFound, "Adapter 'nope' does not exist");
        }

        Assert.False(File.Exists(f.Dir.File("nope.state")));
        Assert.Equal([Key, Twin], f.Engine.Adapters);
    }

    [Fact]
    public async Task Creating_an_adapter_with_a_bad_or_conflicting_config_fails_and_keeps_the_existing_one()
    {
        using var f = await Fixture.StartAsync();

        await f.RejectedAsync(e => e.CreateAdapterAsync("bad", TinyEngines.Lora(rank: 0)), CoordinatorErrorCode.InvalidArgument, "Lora.Rank");
        await f.RejectedAsync(e => e.CreateAdapterAsync("bad", TinyEngines.Lora() with { TargetModules = ["qkv", "attn"] }), CoordinatorErrorCode.InvalidArgument, "unknown module 'attn'");
        await f.RejectedAsync(e => e.CreateAdapterAsync("bad", null!), CoordinatorErrorCode.InvalidArgument, "Lora must be given");
        await f.RejectedAsync(e => e.CreateAdapterAsync("", TinyEngines.Lora()), CoordinatorErrorCode.InvalidArgument, "adapter key must not be empty");
        await f.RejectedAsync(e => e.CreateAdapterAsync(Key, TinyEngines.Lora(rank: 2)), CoordinatorErrorCode.Conflict, $"Adapter '{Key}' exists with another LoRA config");

        Assert.Equal([Key, Twin], f.Engine.Adapters);
    }

    // ---- save_state -----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Save_state_to_an_unwritable_path_fails_and_leaves_no_temporary_file()
    {
        using var f = await Fixture.StartAsync();
        Directory.CreateDirectory(f.Dir.File("a-directory"));
        await File.WriteAllTextAsync(f.Dir.File("a-file"), "x");

        await f.RejectedAsync(e => e.SaveStateAsync(Key, "a-directory", includeOptimizerState: true), CoordinatorErrorCode.InvalidArgument, $"State file '{f.Dir.File("a-directory")}' cannot be written");
        await f.RejectedAsync(e => e.SaveStateAsync(Key, "a-file/below.state", includeOptimizerState: true), CoordinatorErrorCode.InvalidArgument, "cannot be written");
        await f.RejectedAsync(e => e.SaveStateAsync(Key, " ", includeOptimizerState: true), CoordinatorErrorCode.InvalidArgument, "Path must not be empty");

        Assert.Empty(Directory.EnumerateFiles(f.Dir.Path, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(Directory.EnumerateFileSystemEntries(f.Dir.File("a-directory")));
    }

    // ---- load_state ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Load_state_from_a_missing_file_names_the_file()
    {
        using var f = await Fixture.StartAsync();
        await f.AccumulateGradientsAsync();

        await f.RejectedLoadAsync("missing.state", "does not exist");
        await f.RejectedLoadAsync("no-such-dir/missing.state", "does not exist");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Fact]
    public async Task Load_state_from_a_directory_names_the_file()
    {
        using var f = await Fixture.StartAsync();
        Directory.CreateDirectory(f.Dir.File("a-directory"));

        await f.RejectedLoadAsync("a-directory", "cannot be read");
    }

    [Theory]
    [InlineData("magic")]
    [InlineData("header length")]
    [InlineData("header")]
    [InlineData("payload")]
    [InlineData("last payload byte")]
    [InlineData("checksum")]
    public async Task Load_state_rejects_a_file_with_one_flipped_byte(string where)
    {
        using var f = await Fixture.StartAsync();
        await f.AccumulateGradientsAsync();
        var bytes = await f.SaveGoodAsync("good.state");
        var payloadStart = 12 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8, 4));
        var index = where switch
        {
            "magic" => 3,
            "header length" => 9,
            "header" => 12 + 10,
            "payload" => payloadStart + 17,
            "last payload byte" => bytes.Length - 9,
            _ => bytes.Length - 1,
        };
        bytes[index] ^= 0x10;
        await File.WriteAllBytesAsync(f.Dir.File("flipped.state"), bytes);

        await f.RejectedLoadAsync("flipped.state", where == "magic" ? "does not start with the CRDTNSR1 magic" : "checksum does not match");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Theory]
    [InlineData(0, "is empty")]
    [InlineData(5, "truncated")]
    [InlineData(8, "truncated")]
    [InlineData(19, "truncated")]
    [InlineData(20, "truncated")]
    [InlineData(-2, "truncated")]
    [InlineData(-1, "truncated")]
    public async Task Load_state_rejects_a_truncated_file(int keep, string expected)
    {
        using var f = await Fixture.StartAsync();
        await f.AccumulateGradientsAsync();
        var bytes = await f.SaveGoodAsync("good.state");
        var length = keep switch
        {
            -1 => bytes.Length - 1,
            -2 => bytes.Length / 2,
            _ => keep,
        };
        await File.WriteAllBytesAsync(f.Dir.File("cut.state"), bytes[..length]);

        await f.RejectedLoadAsync("cut.state", expected);
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Load_state_rejects_a_file_of_random_bytes(bool withMagic)
    {
        using var f = await Fixture.StartAsync();
        await f.AccumulateGradientsAsync();
        var bytes = new byte[4096];
        new Random(5).NextBytes(bytes);
        if (withMagic)
        {
            "CRDTNSR1"u8.CopyTo(bytes);
        }

        await File.WriteAllBytesAsync(f.Dir.File("random.state"), bytes);

        await f.RejectedLoadAsync("random.state", withMagic ? "checksum does not match" : "does not start with the CRDTNSR1 magic");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Fact]
    public async Task Load_state_rejects_a_file_saved_on_another_base_model()
    {
        using var f = await Fixture.StartAsync();
        using var other = await TrainingEngine.StartAsync(new TrainingEngineOptions { Spec = TinyEngines.Spec with { Seed = 8 }, Device = "cpu", CpuThreads = 1, StateDirectory = f.Dir.Path });
        await other.CreateAdapterAsync(Key, TinyEngines.Lora());
        await TinyEngines.TrainAsync(other, Key, new Random(1), steps: 1, batchSize: 4);
        await other.SaveStateAsync(Key, "other-base.state", includeOptimizerState: true);
        await f.AccumulateGradientsAsync();

        Assert.NotEqual(f.Engine.BaseModelFingerprint, other.BaseModelFingerprint);
        await f.RejectedLoadAsync("other-base.state", $"was saved on base model {other.BaseModelFingerprint}", $"this replica's base model is {f.Engine.BaseModelFingerprint}");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Theory]
    [InlineData("rank")]
    [InlineData("alpha")]
    [InlineData("modules")]
    public async Task Load_state_rejects_a_file_of_an_adapter_with_another_shape(string difference)
    {
        using var f = await Fixture.StartAsync();
        var lora = difference switch
        {
            "rank" => TinyEngines.Lora(rank: 2),
            "alpha" => TinyEngines.Lora() with { Alpha = 16 },
            _ => TinyEngines.Lora() with { TargetModules = ["qkv", "mlp_fc"] },
        };
        await f.Engine.CreateAdapterAsync("other", lora);
        await TinyEngines.TrainAsync(f.Engine, "other", new Random(1), steps: 1, batchSize: 4);
        await f.Engine.SaveStateAsync("other", "other-shape.state", includeOptimizerState: true);
        await f.AccumulateGradientsAsync();

        var expected = difference switch
        {
            "rank" => "holds a rank 2, alpha 8 adapter",
            "alpha" => "holds a rank 4, alpha 16 adapter",
            _ => "adapter on [qkv, mlp_fc]",
        };
        await f.RejectedLoadAsync("other-shape.state", expected, "this model is rank 4, alpha 8 on [qkv, proj, mlp_fc, mlp_proj]");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Load_state_with_optimizer_state_rejects_a_file_saved_without_it(bool savedWithoutAsked)
    {
        using var f = await Fixture.StartAsync();
        if (savedWithoutAsked)
        {
            await f.Engine.SaveStateAsync(Key, "weights-only.state", includeOptimizerState: false);
        }
        else
        {
            // Asked for, but a never-stepped adapter has no Adam moments to save.
            await f.Engine.CreateAdapterAsync("fresh", TinyEngines.Lora());
            var saved = await f.Engine.SaveStateAsync("fresh", "weights-only.state", includeOptimizerState: true);
            Assert.False(saved.IncludesOptimizerState);
        }

        await f.AccumulateGradientsAsync();

        await f.RejectedLoadAsync("weights-only.state", "has no optimizer state", "IncludeOptimizerState = false");
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    [Fact]
    public async Task Load_state_rejects_a_base_model_file()
    {
        using var f = await Fixture.StartAsync();
        await f.Engine.SaveBaseModelAsync(f.Dir.File("base.model"));

        await f.RejectedLoadAsync("base.model", "is not a valid lora-adapter file", "it holds a 'base-model'");
    }

    /// <summary>Files with a valid checksum whose content is wrong: nothing may be applied, not even the weights.</summary>
    [Theory]
    [InlineData("missing weight", "lacks tensor 'h1.mlp_proj.lora_b' of shape [32, 4]")]
    [InlineData("wrong weight shape", "lacks tensor 'h0.qkv.lora_a' of shape [4, 32]")]
    [InlineData("missing moment", "lacks tensor 'h1.mlp_proj.lora_b.adam_v' of shape [32, 4]")]
    [InlineData("missing fingerprint", "lacks the 'baseModelFingerprint' entry")]
    [InlineData("missing step", "lacks the 'step' entry")]
    [InlineData("bad step", "invalid 'step' entry")]
    [InlineData("negative step", "invalid 'step' entry")]
    [InlineData("bad lora", "invalid 'lora' entry")]
    [InlineData("null lora", "invalid 'lora' entry")]
    [InlineData("format version", "format version 2 is not supported")]
    [InlineData("null tensors", "its header has no tensor list")]
    [InlineData("null metadata", "its header has no metadata")]
    [InlineData("null shape", "tensor 'h0.qkv.lora_a' has an invalid shape, type or extent")]
    [InlineData("float64", "tensor 'h0.qkv.lora_a' has an invalid shape, type or extent")]
    [InlineData("extent", "tensor 'h0.qkv.lora_a' has an invalid shape, type or extent")]
    [InlineData("duplicate", "tensor 'h0.qkv.lora_a' appears twice")]
    [InlineData("header json", "its header is not valid JSON")]
    [InlineData("header length", "header length 99999 is out of range")]
    public async Task Load_state_rejects_a_well_formed_file_with_wrong_content(string defect, string expected)
    {
        using var f = await Fixture.StartAsync();
        var good = StateFile.Parse(await f.SaveGoodAsync("good.state"));
        var header = System.Text.Json.Nodes.JsonNode.Parse(good.HeaderJson)!.AsObject();
        var metadata = header["metadata"]!.AsObject();
        var tensors = header["tensors"]!.AsArray();
        var payload = good.Payload;
        System.Text.Json.Nodes.JsonObject Entry(string name) => tensors.Single(t => (string)t!["name"]! == name)!.AsObject();
        var headerLength = (int?)null;
        switch (defect)
        {
            case "missing weight": tensors.Remove(Entry("h1.mlp_proj.lora_b")); break;
            case "wrong weight shape": Entry("h0.qkv.lora_a")["shape"] = new System.Text.Json.Nodes.JsonArray(8, 16); break;
            case "missing moment": tensors.Remove(Entry("h1.mlp_proj.lora_b.adam_v")); break;
            case "missing fingerprint": metadata.Remove("baseModelFingerprint"); break;
            case "missing step": metadata.Remove("step"); break;
            case "bad step": metadata["step"] = "three"; break;
            case "negative step": metadata["step"] = "-1"; break;
            case "bad lora": metadata["lora"] = "{not json"; break;
            case "null lora": metadata["lora"] = "null"; break;
            case "format version": header["formatVersion"] = 2; break;
            case "null tensors": header["tensors"] = null; break;
            case "null metadata": header["metadata"] = null; break;
            case "null shape": Entry("h0.qkv.lora_a")["shape"] = null; break;
            case "float64": Entry("h0.qkv.lora_a")["dType"] = "float64"; break;
            case "extent": Entry("h0.qkv.lora_a")["offset"] = payload.Length; break;
            case "duplicate": tensors.Add(Entry("h0.qkv.lora_a").DeepClone()); break;
            case "header length": headerLength = 99999; break;
            default: break;
        }

        var json = defect == "header json" ? "{\"formatVersion\": 1, " : header.ToJsonString();
        await File.WriteAllBytesAsync(f.Dir.File("crafted.state"), StateFile.Build(json, payload, headerLength));
        await f.AccumulateGradientsAsync();

        await f.RejectedLoadAsync("crafted.state", expected);
        await f.AssertSameAsTwinAfterAStepAsync();
    }

    // ---- base model file ------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_base_model_path_that_is_missing_or_holds_an_adapter_is_refused_naming_the_base_model_file()
    {
        using var f = await Fixture.StartAsync();
        await f.Engine.SaveStateAsync(Key, "adapter.state", includeOptimizerState: true);
        Task<TrainingEngine> Start(string path) =>
            TrainingEngine.StartAsync(new TrainingEngineOptions { Spec = TinyEngines.Spec, BaseModelPath = path, Device = "cpu", CpuThreads = 1, StateDirectory = f.Dir.Path });

        var missing = await Assert.ThrowsAsync<CoordinatorException>(() => Start(f.Dir.File("no.model")));
        var adapter = await Assert.ThrowsAsync<CoordinatorException>(() => Start(f.Dir.File("adapter.state")));

        Assert.Equal((CoordinatorErrorCode.InvalidArgument, $"Base-model file '{f.Dir.File("no.model")}' does not exist."), (missing.Code, missing.Message));
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, adapter.Code);
        Assert.StartsWith($"Base-model file '{f.Dir.File("adapter.state")}' is not a valid base-model file:", adapter.Message, StringComparison.Ordinal);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>A datum of <paramref name="length"/> valid tokens, every position weighted.</summary>
    private static Datum Good(int length) => new(Tokens(length), Tokens(length, offset: 1), Weights(length));

    private static int[] Tokens(int length, int offset = 0) => [.. Enumerable.Range(0, length).Select(i => 40 + ((i + offset) % 20))];

    private static float[] Weights(int length) => [.. Enumerable.Repeat(1f, length)];

    /// <summary>
    /// An engine with two adapters built and trained identically for one step, so each has moved weights, Adam
    /// moments and step 1: <see cref="Key"/> receives the bad calls, <see cref="Twin"/> only the good ones.
    /// </summary>
    private sealed class Fixture : IDisposable
    {
        private readonly IReadOnlyList<Datum> _probe = TinyEngines.Task.Batch(new Random(77), 8);
        private int _snapshots;

        private Fixture(TempDirectory dir, TrainingEngine engine)
        {
            Dir = dir;
            Engine = engine;
        }

        public TempDirectory Dir { get; }

        public TrainingEngine Engine { get; }

        public static async Task<Fixture> StartAsync()
        {
            var dir = new TempDirectory();
            var engine = await TinyEngines.StartAsync(dir.Path);
            foreach (var key in new[] { Key, Twin })
            {
                await engine.CreateAdapterAsync(key, TinyEngines.Lora(seed: 3));
                await TinyEngines.TrainAsync(engine, key, new Random(1), steps: 1, batchSize: 4);
            }

            return new Fixture(dir, engine);
        }

        /// <summary>Runs forward_backward on both adapters with the same batch, leaving gradients accumulated.</summary>
        public async Task AccumulateGradientsAsync()
        {
            var batch = TinyEngines.Task.Batch(new Random(21), 4);
            foreach (var key in new[] { Key, Twin })
            {
                await Engine.ForwardBackwardAsync(key, batch);
            }
        }

        /// <summary>
        /// Asserts <paramref name="call"/> fails with <paramref name="code"/> and a message holding every part, and
        /// that the adapter's saved state and its loss on a probe batch are the same before and after.
        /// </summary>
        public async Task<CoordinatorException> RejectedAsync(Func<TrainingEngine, Task> call, CoordinatorErrorCode code, params string[] parts)
        {
            var before = await SnapshotAsync();
            var lossBefore = (await Engine.ForwardAsync(Key, _probe)).Loss;

            var error = await Assert.ThrowsAsync<CoordinatorException>(() => call(Engine));

            Assert.True(code == error.Code, $"expected {code}, got {error.Code}: {error.Message}");
            foreach (var part in parts)
            {
                Assert.Contains(part, error.Message, StringComparison.Ordinal);
            }

            Assert.Equal(before, await SnapshotAsync());
            Assert.Equal(lossBefore, (await Engine.ForwardAsync(Key, _probe)).Loss);
            return error;
        }

        /// <summary>A rejected forward_backward: also checks it accumulated no gradients.</summary>
        public async Task<CoordinatorException> RejectedForwardBackwardAsync(IReadOnlyList<Datum> batch, params string[] parts)
        {
            var error = await RejectedAsync(e => e.ForwardBackwardAsync(Key, batch), CoordinatorErrorCode.InvalidArgument, parts);
            await RejectedAsync(e => e.ExecuteAsync(Key, new ForwardBackwardOperation(batch)), CoordinatorErrorCode.InvalidArgument, parts);
            await AssertNoGradientsAsync();
            return error;
        }

        /// <summary>A rejected load_state (with optimizer state): the message must also name the file's full path.</summary>
        public Task<CoordinatorException> RejectedLoadAsync(string path, params string[] parts) =>
            RejectedAsync(e => e.LoadStateAsync(Key, path, includeOptimizerState: true), CoordinatorErrorCode.InvalidArgument, [$"State file '{Dir.File(path)}'", .. parts]);

        public async Task AssertNoGradientsAsync()
        {
            var error = await Assert.ThrowsAsync<CoordinatorException>(() => Engine.OptimStepAsync(Key, TinyEngines.Adam));
            Assert.Equal(CoordinatorErrorCode.InvalidState, error.Code);
            Assert.Contains("no accumulated gradients", error.Message, StringComparison.Ordinal);
        }

        /// <summary>Steps both adapters on their accumulated gradients; the bad call must not have changed them.</summary>
        public async Task AssertSameAsTwinAfterAStepAsync()
        {
            var mine = await Engine.OptimStepAsync(Key, TinyEngines.Adam);
            var twin = await Engine.OptimStepAsync(Twin, TinyEngines.Adam);
            Assert.Equal((twin.Step, twin.GradNorm), (mine.Step, mine.GradNorm));
            Assert.Equal(await SnapshotAsync(Twin), await SnapshotAsync(Key));
        }

        public async Task<byte[]> SaveGoodAsync(string name)
        {
            await Engine.SaveStateAsync(Key, name, includeOptimizerState: true);
            return await File.ReadAllBytesAsync(Dir.File(name));
        }

        public void Dispose()
        {
            Engine.Dispose();
            Dir.Dispose();
        }

        private async Task<byte[]> SnapshotAsync(string key = Key)
        {
            var saved = await Engine.SaveStateAsync(key, Path.Combine("snapshots", $"{++_snapshots}.state"), includeOptimizerState: true);
            return await File.ReadAllBytesAsync(saved.Path);
        }
    }
}

/// <summary>Builds and splits state files by the layout in docs/adapter-state-format.md, independently of the engine's code.</summary>
internal static class StateFile
{
    public static readonly byte[] Magic = "CRDTNSR1"u8.ToArray();

    public static (string HeaderJson, byte[] Payload) Parse(byte[] file)
    {
        Assert.Equal(Magic, file[..8]);
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8, 4));
        var hash = new XxHash64();
        hash.Append(file.AsSpan(0, file.Length - 8));
        Assert.Equal(hash.GetCurrentHash(), file[^8..]);
        return (Encoding.UTF8.GetString(file, 12, headerLength), file[(12 + headerLength)..^8]);
    }

    public static byte[] Build(string headerJson, byte[] payload, int? headerLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var body = new byte[12 + header.Length + payload.Length];
        Magic.CopyTo(body, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8, 4), (uint)(headerLength ?? header.Length));
        header.CopyTo(body, 12);
        payload.CopyTo(body, 12 + header.Length);
        var hash = new XxHash64();
        hash.Append(body);
        return [.. body, .. hash.GetCurrentHash()];
    }
}
