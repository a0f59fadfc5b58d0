using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Coordinator.Training.Model;

/// <summary>
/// One LoRA adapter: for each targeted projection W (out x in) of each layer, trainable A (rank x in) and B (out x rank)
/// adding (alpha / rank) * B A x to W x; plus its own Adam moments and step count. B starts at zero, so a fresh
/// adapter leaves the base model's outputs unchanged. Touched only on the device thread.
/// </summary>
internal sealed class LoraAdapter : IDisposable
{
    private readonly Dictionary<(int Layer, string Module), (Tensor A, Tensor B)> _factors = [];
    private readonly List<(string Name, Tensor Parameter)> _parameters = [];
    private Dictionary<string, (Tensor M, Tensor V)>? _moments;

    /// <summary><see cref="Scale"/> as the Scalar every forward multiplies by: made once, held for the adapter's life.</summary>
    private readonly Scalar _scale;

    public LoraAdapter(BaseTransformer baseModel, LoraConfig config)
    {
        Config = config;
        Scale = config.Alpha / config.Rank;
        _scale = Scale.ToScalar();
        using var generator = new Generator((ulong)config.Seed);
        var targets = LoraConfig.KnownTargetModules.Where(config.TargetModules.Contains).ToArray();
        for (var layer = 0; layer < baseModel.Spec.Layers; layer++)
        {
            foreach (var module in targets)
            {
                var (inputs, outputs) = baseModel.Shape(module);
                using var raw = randn([config.Rank, inputs], generator: generator);
                using var fanIn = (1.0 / Math.Sqrt(inputs)).ToScalar();
                var a = Trainable(raw.mul(fanIn), baseModel.Device);
                var b = Trainable(zeros([outputs, config.Rank]), baseModel.Device);
                _factors[(layer, module)] = (a, b);
                _parameters.Add(($"h{layer}.{module}.lora_a", a));
                _parameters.Add(($"h{layer}.{module}.lora_b", b));
            }
        }
    }

    public LoraConfig Config { get; }

    public double Scale { get; }

    /// <summary>Optimizer steps taken.</summary>
    public long Step { get; private set; }

    /// <summary>Parameters in a fixed order: layer, then module, then A before B.</summary>
    public IReadOnlyList<(string Name, Tensor Parameter)> Parameters => _parameters;

    /// <summary>Whether a backward pass added gradients since the last optimizer step (zeroed gradients do not count).</summary>
    public bool HasGradients { get; private set; }

    /// <summary>Records that a backward pass added to the gradients.</summary>
    public void GradientsAccumulated() => HasGradients = true;

    /// <summary>The adapter's addition to a projection's output, or null if it does not target it.</summary>
    public Tensor? Delta(Tensor input, int layer, string module) =>
        _factors.TryGetValue((layer, module), out var f)
            ? nn.functional.linear(nn.functional.linear(input, f.A), f.B).mul(_scale)
            : null;

    /// <summary>Adam (decoupled weight decay) over the accumulated gradients, which it then clears. Returns the gradient norm before clipping.</summary>
    public double OptimizerStep(AdamParams adam)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var gradients = _parameters.Select(p => p.Parameter.grad ?? zeros_like(p.Parameter)).ToList();
        var squared = gradients.Aggregate(zeros(1, device: gradients[0].device), (sum, g) => sum.Plus(g.mul(g).sum())); // not square(): TorchSharp makes it pow with a temporary Scalar
        var norm = squared.sqrt().item<float>();
        if (adam.GradClipNorm > 0 && norm > adam.GradClipNorm)
        {
            using var factor = (adam.GradClipNorm / (norm + 1e-6)).ToScalar();
            foreach (var g in gradients)
            {
                g.mul_(factor);
            }
        }

        _moments ??= _parameters.ToDictionary(p => p.Name, p => (Keep(zeros_like(p.Parameter)), Keep(zeros_like(p.Parameter))));
        Step++;

        // Scalars held until torch has read them: see HeldScalars.
        using var beta1 = adam.Beta1.ToScalar();
        using var oneMinusBeta1 = (1 - adam.Beta1).ToScalar();
        using var beta2 = adam.Beta2.ToScalar();
        using var oneMinusBeta2 = (1 - adam.Beta2).ToScalar();
        using var decay = (1 - (adam.LearningRate * adam.WeightDecay)).ToScalar();
        using var correction2 = (1 - Math.Pow(adam.Beta2, Step)).ToScalar();
        using var eps = adam.Eps.ToScalar();
        using var stepSize = (-adam.LearningRate / (1 - Math.Pow(adam.Beta1, Step))).ToScalar();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var (name, parameter) = _parameters[i];
            var g = gradients[i];
            var (m, v) = _moments[name];
            m.mul_(beta1).add_(g, alpha: oneMinusBeta1);
            v.mul_(beta2).addcmul_(g, g, value: oneMinusBeta2);
            if (adam.WeightDecay > 0)
            {
                parameter.mul_(decay);
            }

            var denominator = v.div(correction2).sqrt_().add_(eps, HeldScalars.One); // alpha given: TorchSharp would make a temporary Scalar 1
            parameter.addcdiv_(m, denominator, value: stepSize);
        }

        ClearGradients();
        return norm;
    }

    public void ClearGradients()
    {
        foreach (var (_, parameter) in _parameters)
        {
            parameter.grad?.zero_();
        }

        HasGradients = false;
    }

    /// <summary>Weights, and when asked the Adam moments and step, as named arrays.</summary>
    public (List<Checkpoints.NamedTensor> Tensors, bool IncludesOptimizer) Export(bool includeOptimizer)
    {
        var tensors = _parameters.Select(p => new Checkpoints.NamedTensor(p.Name, p.Parameter.shape, BaseTransformer.ToArray(p.Parameter))).ToList();
        var withOptimizer = includeOptimizer && _moments is not null;
        if (withOptimizer)
        {
            foreach (var (name, parameter) in _parameters)
            {
                var (m, v) = _moments![name];
                tensors.Add(new(name + ".adam_m", parameter.shape, BaseTransformer.ToArray(m)));
                tensors.Add(new(name + ".adam_v", parameter.shape, BaseTransformer.ToArray(v)));
            }
        }

        return (tensors, withOptimizer);
    }

    /// <summary>
    /// Replaces weights (and optimizer state when <paramref name="loadOptimizer"/> is set) with verified arrays.
    /// Every shape is checked before anything is copied, so a bad file leaves the adapter untouched.
    /// </summary>
    public void Import(IReadOnlyDictionary<string, Checkpoints.NamedTensor> tensors, bool loadOptimizer, long step, string path)
    {
        Checkpoints.NamedTensor Get(string name, Tensor like) =>
            tensors.TryGetValue(name, out var t) && t.Shape.SequenceEqual(like.shape)
                ? t
                : throw CoordinatorException.InvalidArgument($"State file '{path}' lacks tensor '{name}' of shape [{string.Join(", ", like.shape)}].");

        var weights = _parameters.Select(p => Get(p.Name, p.Parameter)).ToList();
        var moments = loadOptimizer
            ? _parameters.Select(p => (Get(p.Name + ".adam_m", p.Parameter), Get(p.Name + ".adam_v", p.Parameter))).ToList()
            : null;

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var parameter = _parameters[i].Parameter;
            parameter.copy_(tensor(weights[i].Data, weights[i].Shape));
        }

        ClearGradients();
        DisposeMoments();
        if (moments is not null)
        {
            _moments = [];
            for (var i = 0; i < _parameters.Count; i++)
            {
                var (name, parameter) = _parameters[i];
                var m = Keep(tensor(moments[i].Item1.Data, moments[i].Item1.Shape).to(parameter.device));
                var v = Keep(tensor(moments[i].Item2.Data, moments[i].Item2.Shape).to(parameter.device));
                _moments[name] = (m, v);
            }
        }

        Step = step;
    }

    public void Dispose()
    {
        _scale.Dispose();
        DisposeMoments();
        foreach (var (_, parameter) in _parameters)
        {
            parameter.Dispose();
        }
    }

    private void DisposeMoments()
    {
        if (_moments is null)
        {
            return;
        }

        foreach (var (m, v) in _moments.Values)
        {
            m.Dispose();
            v.Dispose();
        }

        _moments = null;
    }

    private static Tensor Keep(Tensor t) => t.DetachFromDisposeScope();

    private static Tensor Trainable(Tensor t, Device device)
    {
        var moved = t.to(float32, device).detach().DetachFromDisposeScope();
        if (!ReferenceEquals(moved, t))
        {
            t.Dispose();
        }

        moved.requires_grad = true;
        return moved;
    }
}
