using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;

namespace Coordinator.Training.Tests;

/// <summary>The adapter state file as docs/adapter-state-format.md describes it, checked against what the engine writes and does.</summary>
public sealed class EngineStateFileTests
{
    [Fact]
    public async Task A_saved_adapter_file_has_the_documented_layout()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        var lora = TinyEngines.Lora(seed: 6, rank: 3) with { TargetModules = ["mlp_proj", "qkv"] };
        await engine.CreateAdapterAsync("a", lora);
        await TinyEngines.TrainAsync(engine, "a", new Random(1), steps: 2, batchSize: 4);

        var full = await engine.SaveStateAsync("a", "full.state", includeOptimizerState: true);
        var weightsOnly = await engine.SaveStateAsync("a", "sub/weights.state", includeOptimizerState: false);

        Assert.Equal(dir.File("full.state"), full.Path);
        Assert.Equal((true, 2L), (full.IncludesOptimizerState, full.Step));
        Assert.Equal((false, 2L), (weightsOnly.IncludesOptimizerState, weightsOnly.Step));
        Assert.Equal(["full.state", "sub"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // Tensors list the weights in layer order, modules in the base model's order (not the config's), A before B;
        // then, with optimizer state, each weight's adam_m and adam_v in the same order.
        string[] weights = [.. from layer in new[] { 0, 1 } from module in new[] { "qkv", "mlp_proj" } from factor in new[] { "lora_a", "lora_b" } select $"h{layer}.{module}.{factor}"];
        long[] Shape(string name) => name.Split('.') switch
        {
            [_, "qkv", "lora_a", ..] => [3, 32],
            [_, "qkv", "lora_b", ..] => [96, 3],
            [_, "mlp_proj", "lora_a", ..] => [3, 128],
            _ => [32, 3],
        };

        foreach (var (file, names, withOptimizer) in new[]
        {
            (full.Path, (string[])[.. weights, .. weights.SelectMany(w => new[] { w + ".adam_m", w + ".adam_v" })], true),
            (weightsOnly.Path, weights, false),
        })
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal("CRDTNSR1"u8.ToArray(), bytes[..8]);
            var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8, 4));
            Assert.Equal(XxHash64.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)), BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(bytes.Length - 8)));

            using var header = JsonDocument.Parse(bytes.AsMemory(12, headerLength));
            var root = header.RootElement;
            Assert.Equal(["formatVersion", "kind", "metadata", "tensors"], root.EnumerateObject().Select(p => p.Name));
            Assert.Equal(1, root.GetProperty("formatVersion").GetInt32());
            Assert.Equal("lora-adapter", root.GetProperty("kind").GetString());
            var metadata = root.GetProperty("metadata").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
            Assert.Equal(["baseModelFingerprint", "lora", "step", "includesOptimizerState"], metadata.Keys);
            Assert.Equal(engine.BaseModelFingerprint, metadata["baseModelFingerprint"]);
            var savedLora = JsonSerializer.Deserialize<LoraConfig>(metadata["lora"]!)!;
            Assert.Equal((lora.Rank, lora.Alpha, lora.Seed), (savedLora.Rank, savedLora.Alpha, savedLora.Seed));
            Assert.Equal(lora.TargetModules, savedLora.TargetModules);
            Assert.Equal("2", metadata["step"]);
            Assert.Equal(withOptimizer ? "true" : "false", metadata["includesOptimizerState"]);

            var offset = 0L;
            var tensors = root.GetProperty("tensors").EnumerateArray().ToList();
            Assert.Equal(names, tensors.Select(t => t.GetProperty("name").GetString()));
            foreach (var t in tensors)
            {
                Assert.Equal(["name", "shape", "dType", "offset", "length"], t.EnumerateObject().Select(p => p.Name));
                var shape = t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                Assert.Equal(Shape(t.GetProperty("name").GetString()!), shape);
                Assert.Equal("float32", t.GetProperty("dType").GetString());
                Assert.Equal(offset, t.GetProperty("offset").GetInt64());
                Assert.Equal(shape.Aggregate(4L, (a, b) => a * b), t.GetProperty("length").GetInt64());
                offset += t.GetProperty("length").GetInt64();
            }

            Assert.Equal(8 + 4 + headerLength + offset + 8, bytes.Length);

            // B of a fresh adapter is zero; after two steps it is not, and A and B hold finite float32 values.
            var payload = bytes.AsSpan(12 + headerLength, (int)offset);
            var firstB = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(payload.Slice((int)tensors[1].GetProperty("offset").GetInt64(), (int)tensors[1].GetProperty("length").GetInt64())).ToArray();
            Assert.Contains(firstB, v => v != 0);
            Assert.All(firstB, v => Assert.True(float.IsFinite(v)));
        }
    }

    [Fact]
    public async Task A_base_model_file_uses_the_same_container_with_kind_base_model()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.SaveBaseModelAsync(dir.File("base.model"));

        var (headerJson, _) = StateFile.Parse(await File.ReadAllBytesAsync(dir.File("base.model")));
        using var header = JsonDocument.Parse(headerJson);
        Assert.Equal("base-model", header.RootElement.GetProperty("kind").GetString());
        var metadata = header.RootElement.GetProperty("metadata");
        Assert.Equal(engine.BaseModelFingerprint, metadata.GetProperty("fingerprint").GetString());
        Assert.Equal(TinyEngines.Spec, JsonSerializer.Deserialize<BaseModelSpec>(metadata.GetProperty("spec").GetString()!));
    }

    [Fact]
    public async Task Accumulated_gradients_are_not_saved_and_loading_clears_them()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("a", TinyEngines.Lora());
        await engine.CreateAdapterAsync("b", TinyEngines.Lora());
        await TinyEngines.TrainAsync(engine, "a", new Random(1), steps: 1, batchSize: 4);
        await engine.ForwardBackwardAsync("a", TinyEngines.Task.Batch(new Random(2), 4));
        await engine.SaveStateAsync("a", "with-pending-gradients.state", includeOptimizerState: true);

        // A fresh adapter loading the file gets no gradients; the saving adapter loses its own by loading.
        await engine.LoadStateAsync("b", "with-pending-gradients.state", includeOptimizerState: true);
        await engine.LoadStateAsync("a", "with-pending-gradients.state", includeOptimizerState: true);

        foreach (var key in new[] { "a", "b" })
        {
            var error = await Assert.ThrowsAsync<CoordinatorException>(() => engine.OptimStepAsync(key, TinyEngines.Adam));
            Assert.Equal(CoordinatorErrorCode.InvalidState, error.Code);
        }
    }

    [Fact]
    public async Task Loading_without_optimizer_state_restarts_adam_from_step_0()
    {
        using var dir = new TempDirectory();
        using var engine = await TinyEngines.StartAsync(dir.Path);
        await engine.CreateAdapterAsync("trained", TinyEngines.Lora());
        await TinyEngines.TrainAsync(engine, "trained", new Random(1), steps: 3, batchSize: 4);
        await engine.SaveStateAsync("trained", "full.state", includeOptimizerState: true);
        await engine.SaveStateAsync("trained", "weights.state", includeOptimizerState: false);
        foreach (var key in new[] { "from-full", "from-weights", "with-optimizer" })
        {
            await engine.CreateAdapterAsync(key, TinyEngines.Lora(seed: 9));
        }

        var fromFull = await engine.LoadStateAsync("from-full", "full.state", includeOptimizerState: false);
        var fromWeights = await engine.LoadStateAsync("from-weights", "weights.state", includeOptimizerState: false);
        var withOptimizer = await engine.LoadStateAsync("with-optimizer", "full.state", includeOptimizerState: true);

        Assert.Equal((false, 0L), (fromFull.IncludesOptimizerState, fromFull.Step));
        Assert.Equal((false, 0L), (fromWeights.IncludesOptimizerState, fromWeights.Step));
        Assert.Equal((true, 3L), (withOptimizer.IncludesOptimizerState, withOptimizer.Step));

        // Without optimizer state there are no Adam moments to save until the next step.
        Assert.False((await engine.SaveStateAsync("from-full", "from-full-now.state", includeOptimizerState: true)).IncludesOptimizerState);

        // The moments in full.state were ignored: both adapters take the same first step, unlike the one that kept them.
        var batch = TinyEngines.Task.Batch(new Random(5), 4);
        var steps = new Dictionary<string, OptimStepResult>();
        foreach (var key in new[] { "from-full", "from-weights", "with-optimizer" })
        {
            await engine.ForwardBackwardAsync(key, batch);
            steps[key] = await engine.OptimStepAsync(key, TinyEngines.Adam);
            await engine.SaveStateAsync(key, $"{key}-after.state", includeOptimizerState: true);
        }

        Assert.Equal((1L, 1L, 4L), (steps["from-full"].Step, steps["from-weights"].Step, steps["with-optimizer"].Step));
        Assert.Equal(await File.ReadAllBytesAsync(dir.File("from-full-after.state")), await File.ReadAllBytesAsync(dir.File("from-weights-after.state")));
        var probe = TinyEngines.Task.Batch(new Random(6), 8);
        Assert.NotEqual((await engine.ForwardAsync("from-full", probe)).Loss, (await engine.ForwardAsync("with-optimizer", probe)).Loss);
    }
}
