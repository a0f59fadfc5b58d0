using System.Text.Json;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;
using Coordinator.Training.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Coordinator.Training.Model;

/// <summary>
/// A frozen decoder-only transformer (GPT-2 layout, pre-norm, tied input/output embedding) over bytes. Its forward
/// pass takes the adapter to apply, so many LoRA adapters share one copy of the base weights.
/// </summary>
internal sealed class BaseTransformer : IDisposable
{
    private readonly Dictionary<string, Tensor> _weights;

    private BaseTransformer(BaseModelSpec spec, Dictionary<string, Tensor> weights, string fingerprint)
    {
        Spec = spec;
        _weights = weights;
        Fingerprint = fingerprint;
    }

    public BaseModelSpec Spec { get; }

    /// <summary>Identifies the exact base weights; adapter files record it so they only load onto the same base.</summary>
    public string Fingerprint { get; }

    public Device Device => _weights["wte"].device;

    /// <summary>Input and output sizes of a projection.</summary>
    public (long In, long Out) Shape(string module) => module switch
    {
        "qkv" => (Spec.Width, 3L * Spec.Width),
        "proj" => (Spec.Width, Spec.Width),
        "mlp_fc" => (Spec.Width, 4L * Spec.Width),
        "mlp_proj" => (4L * Spec.Width, Spec.Width),
        _ => throw new ArgumentOutOfRangeException(nameof(module), module, "unknown module"),
    };

    public static void ValidateSpec(BaseModelSpec spec)
    {
        if (spec.Problems().FirstOrDefault() is { Field: not null } first)
        {
            throw CoordinatorException.InvalidArgument($"Spec.{first.Field} {first.Problem}.");
        }
    }

    /// <summary>Initialises the weights from the spec's seed: normal(0, 1/fan-in), unit layer norms, zero biases.</summary>
    public static BaseTransformer FromSeed(BaseModelSpec spec, Device device)
    {
        ValidateSpec(spec);
        var shapes = ParameterShapes(spec);
        using var generator = new Generator((ulong)spec.Seed);
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in shapes)
        {
            Tensor t;
            if (name.EndsWith("_w", StringComparison.Ordinal) && name.Contains("ln", StringComparison.Ordinal))
            {
                t = ones(shape);
            }
            else if (name.EndsWith("_b", StringComparison.Ordinal))
            {
                t = zeros(shape);
            }
            else
            {
                // Fan-in scaled normal: a random frozen base still mixes tokens and has logits of order 1, which a
                // LoRA can steer (GPT-2's 0.02 makes sense only for weights that are trained afterwards).
                using var raw = randn(shape, generator: generator);
                using var fanIn = (1.0 / Math.Sqrt(shape[^1])).ToScalar(); // held while torch reads it: see HeldScalars
                t = raw.mul(fanIn);
            }

            weights[name] = Frozen(t, device);
        }

        var fingerprint = TensorFile.Fingerprint("seed:" + JsonSerializer.Serialize(spec));
        return new BaseTransformer(spec, weights, fingerprint);
    }

    /// <summary>Loads base weights written by <see cref="Save"/>.</summary>
    public static BaseTransformer Load(string path, Device device)
    {
        var (header, tensors) = TensorFile.Read(path, TensorFile.BaseModelKind);
        BaseModelSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<BaseModelSpec>(header.Required("spec", path));
        }
        catch (JsonException ex)
        {
            throw CoordinatorException.InvalidArgument($"Base model file '{path}' has a malformed 'spec' entry: {ex.Message}");
        }

        if (spec is null)
        {
            throw CoordinatorException.InvalidArgument($"Base model file '{path}' has an empty spec.");
        }

        ValidateSpec(spec);
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in ParameterShapes(spec))
        {
            if (!tensors.TryGetValue(name, out var stored) || !stored.Shape.SequenceEqual(shape))
            {
                throw CoordinatorException.InvalidArgument($"Base model file '{path}' lacks tensor '{name}' of shape [{string.Join(", ", shape)}].");
            }

            weights[name] = Frozen(tensor(stored.Data, shape), device);
        }

        return new BaseTransformer(spec, weights, header.Required("fingerprint", path));
    }

    public long Save(string path)
    {
        var tensors = _weights.Select(kv => new NamedTensor(kv.Key, kv.Value.shape, ToArray(kv.Value))).ToList();
        var metadata = new Dictionary<string, string>
        {
            ["spec"] = JsonSerializer.Serialize(Spec),
            ["fingerprint"] = Fingerprint,
        };
        return TensorFile.Write(path, TensorFile.BaseModelKind, metadata, tensors);
    }

    /// <summary>Logits [batch, time, vocabulary] for token ids [batch, time], with the adapter's deltas added.</summary>
    public Tensor Forward(Tensor tokens, LoraAdapter? adapter)
    {
        var batch = tokens.shape[0];
        var time = tokens.shape[1];
        var width = Spec.Width;
        var heads = Spec.Heads;
        var wte = _weights["wte"];
        var x = wte.index_select(0, tokens.reshape(-1)).reshape(batch, time, width).Plus(_weights["wpe"].narrow(0, 0, time));
        for (var layer = 0; layer < Spec.Layers; layer++)
        {
            var p = $"h{layer}.";
            var h = nn.functional.layer_norm(x, [width], _weights[p + "ln1_w"], _weights[p + "ln1_b"]);
            var qkv = Project(h, layer, "qkv", adapter);
            var parts = qkv.split(width, dim: -1);
            var q = parts[0].reshape(batch, time, heads, width / heads).transpose(1, 2);
            var k = parts[1].reshape(batch, time, heads, width / heads).transpose(1, 2);
            var v = parts[2].reshape(batch, time, heads, width / heads).transpose(1, 2);
            // Positional: TorchSharp 0.107 names the flag "is_casual".
            var attended = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true)
                .transpose(1, 2).contiguous().reshape(batch, time, width);
            x = x.Plus(Project(attended, layer, "proj", adapter));
            h = nn.functional.layer_norm(x, [width], _weights[p + "ln2_w"], _weights[p + "ln2_b"]);
            x = x.Plus(Project(nn.functional.gelu(Project(h, layer, "mlp_fc", adapter)), layer, "mlp_proj", adapter));
        }

        x = nn.functional.layer_norm(x, [width], _weights["lnf_w"], _weights["lnf_b"]);
        return nn.functional.linear(x, wte);
    }

    public void Dispose()
    {
        foreach (var weight in _weights.Values)
        {
            weight.Dispose();
        }
    }

    internal static float[] ToArray(Tensor t)
    {
        using var cpuCopy = t.detach().cpu().contiguous();
        return cpuCopy.data<float>().ToArray();
    }

    private Tensor Project(Tensor input, int layer, string module, LoraAdapter? adapter)
    {
        var output = nn.functional.linear(input, _weights[$"h{layer}.{module}_w"], _weights[$"h{layer}.{module}_b"]);
        return adapter?.Delta(input, layer, module) is { } delta ? output.Plus(delta) : output;
    }

    private static Tensor Frozen(Tensor t, Device device)
    {
        var moved = t.to(float32, device).detach();
        if (!ReferenceEquals(moved, t))
        {
            t.Dispose();
        }

        moved.requires_grad = false;
        return moved;
    }

    private static List<(string Name, long[] Shape)> ParameterShapes(BaseModelSpec spec)
    {
        long d = spec.Width;
        var shapes = new List<(string, long[])>
        {
            ("wte", [spec.VocabularySize, d]),
            ("wpe", [spec.ContextLength, d]),
        };
        for (var layer = 0; layer < spec.Layers; layer++)
        {
            var p = $"h{layer}.";
            shapes.Add((p + "ln1_w", [d]));
            shapes.Add((p + "ln1_b", [d]));
            shapes.Add((p + "qkv_w", [3 * d, d]));
            shapes.Add((p + "qkv_b", [3 * d]));
            shapes.Add((p + "proj_w", [d, d]));
            shapes.Add((p + "proj_b", [d]));
            shapes.Add((p + "ln2_w", [d]));
            shapes.Add((p + "ln2_b", [d]));
            shapes.Add((p + "mlp_fc_w", [4 * d, d]));
            shapes.Add((p + "mlp_fc_b", [4 * d]));
            shapes.Add((p + "mlp_proj_w", [d, 4 * d]));
            shapes.Add((p + "mlp_proj_b", [d]));
        }

        shapes.Add(("lnf_w", [d]));
        shapes.Add(("lnf_b", [d]));
        return shapes;
    }
}
