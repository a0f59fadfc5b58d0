using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Coordinator.Training.Checkpoints;
using Coordinator.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Coordinator.Training.Engine;

/// <summary>
/// Trains many LoRA adapters on one frozen base model on one device. Every tensor operation runs on the engine's
/// device thread, one at a time in call order; each call validates its input before touching an adapter, so a
/// rejected call leaves the adapter as it was. Errors callers can fix are <see cref="CoordinatorException"/>s.
/// </summary>
public sealed class TrainingEngine : IDisposable
{
    /// <summary>The name of the engine's device thread, as it shows in debuggers and thread dumps.</summary>
    internal const string DeviceThreadName = "coordinator-device";

    private readonly DeviceWorker _worker;
    private readonly Dictionary<string, LoraAdapter> _adapters = new(StringComparer.Ordinal);
    private readonly string _stateDirectory;
    private BaseTransformer? _base;
    private int _disposed;

    private TrainingEngine(TrainingEngineOptions options, TimeProvider time)
    {
        _stateDirectory = Path.GetFullPath(options.StateDirectory);
        _worker = new DeviceWorker(DeviceThreadName, time);
    }

    /// <summary>The base model's shape.</summary>
    public BaseModelSpec Spec => Base.Spec;

    /// <summary>Identifies the base weights; adapter files load only onto the same base.</summary>
    public string BaseModelFingerprint => Base.Fingerprint;

    /// <summary>The device compute runs on.</summary>
    public DeviceDescription Device { get; private set; } = new("cpu", "", 0);

    /// <summary>Operations waiting for the device thread; the one running is not counted.</summary>
    public int QueueDepth => _worker.QueueLength;

    /// <summary>Adapters currently loaded.</summary>
    public IReadOnlyList<string> Adapters
    {
        get
        {
            lock (_adapters)
            {
                return [.. _adapters.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    private BaseTransformer Base => _base ?? throw new InvalidOperationException("The engine is not started.");

    /// <summary>Loads torch, picks the device and builds (or loads) the base model on the device thread.</summary>
    public static async Task<TrainingEngine> StartAsync(TrainingEngineOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var engine = new TrainingEngine(options, time ?? TimeProvider.System);
        try
        {
            await engine._worker.RunAsync(() =>
            {
                TorchRuntime.EnsureLoaded();
                if (options.CpuThreads > 0)
                {
                    set_num_threads(options.CpuThreads);
                }

                var device = TorchRuntime.SelectDevice(options.Device);
                engine.Device = TorchRuntime.Describe(device);
                engine._base = options.BaseModelPath is { Length: > 0 } path
                    ? BaseTransformer.Load(path, device)
                    : BaseTransformer.FromSeed(options.Spec, device);
                return true;
            });
        }
        catch
        {
            engine.Dispose();
            throw;
        }

        return engine;
    }

    /// <summary>Writes the base model to a file that <see cref="TrainingEngineOptions.BaseModelPath"/> can load.</summary>
    public async Task<long> SaveBaseModelAsync(string path) => (await _worker.RunAsync(() => Base.Save(path))).Result;

    /// <summary>Creates a fresh adapter; a no-op if one with the same config exists under the key.</summary>
    public async Task CreateAdapterAsync(string key, LoraConfig lora)
    {
        Require.Id(key, "adapter key");
        ValidateLora(lora);
        await _worker.RunAsync(() =>
        {
            lock (_adapters)
            {
                if (_adapters.TryGetValue(key, out var existing))
                {
                    return existing.Config.SameAs(lora)
                        ? true
                        : throw new CoordinatorException(CoordinatorErrorCode.Conflict, $"Adapter '{key}' exists with another LoRA config.");
                }
            }

            var adapter = new LoraAdapter(Base, lora);
            lock (_adapters)
            {
                _adapters[key] = adapter;
            }

            return true;
        });
    }

    /// <summary>Frees an adapter; false if it was not loaded.</summary>
    public async Task<bool> RemoveAdapterAsync(string key) => (await _worker.RunAsync(() =>
    {
        LoraAdapter? adapter;
        lock (_adapters)
        {
            if (!_adapters.Remove(key, out adapter))
            {
                return false;
            }
        }

        adapter.Dispose();
        return true;
    })).Result;

    /// <summary>Runs a <see cref="TrainingOperation"/>; the one entry point the trainer grain uses.</summary>
    public Task<OperationOutput> ExecuteAsync(string key, TrainingOperation operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        return operation switch
        {
            ForwardOperation f => Wrap(ForwardAsync(key, f.Batch), r => new OperationOutput(Forward: r)),
            ForwardBackwardOperation fb => Wrap(ForwardBackwardAsync(key, fb.Batch), r => new OperationOutput(Forward: r)),
            OptimStepOperation o => Wrap(OptimStepAsync(key, o.Adam), r => new OperationOutput(OptimStep: r)),
            SampleOperation s => Wrap(SampleAsync(key, s.Prompt, s.Sampling), r => new OperationOutput(Sample: r)),
            SaveStateOperation save => Wrap(SaveStateAsync(key, save.Path, save.IncludeOptimizerState), r => new OperationOutput(Checkpoint: r)),
            LoadStateOperation load => Wrap(LoadStateAsync(key, load.Path, load.IncludeOptimizerState), r => new OperationOutput(Checkpoint: r)),
            _ => throw CoordinatorException.InvalidArgument($"Operation '{operation.Kind}' is not supported by this trainer."),
        };

        static async Task<OperationOutput> Wrap<T>(Task<T> task, Func<T, OperationOutput> wrap) => wrap(await task);
    }

    /// <summary>Weighted cross-entropy of a batch (mean over positions, weighted by loss weights), no gradients.</summary>
    public async Task<ForwardResult> ForwardAsync(string key, IReadOnlyList<Datum> batch)
    {
        TrainingValidation.Batch(batch, Spec.VocabularySize, Spec.ContextLength);
        var ((loss, tokens), timing) = await _worker.RunAsync(() => Loss(Adapter(key), batch, backward: false));
        return new ForwardResult(loss, tokens, timing);
    }

    /// <summary>Like <see cref="ForwardAsync"/>, and adds the loss's gradients to the adapter's accumulated gradients.</summary>
    public async Task<ForwardResult> ForwardBackwardAsync(string key, IReadOnlyList<Datum> batch)
    {
        TrainingValidation.Batch(batch, Spec.VocabularySize, Spec.ContextLength);
        var ((loss, tokens), timing) = await _worker.RunAsync(() => Loss(Adapter(key), batch, backward: true));
        return new ForwardResult(loss, tokens, timing);
    }

    /// <summary>One Adam step over the accumulated gradients, which it clears.</summary>
    public async Task<OptimStepResult> OptimStepAsync(string key, AdamParams adam)
    {
        TrainingValidation.Adam(adam);
        var ((step, norm), timing) = await _worker.RunAsync(() =>
        {
            var adapter = Adapter(key);
            if (!adapter.HasGradients)
            {
                throw CoordinatorException.InvalidState($"Adapter '{key}' has no accumulated gradients; run forward_backward before optim_step.");
            }

            var gradNorm = adapter.OptimizerStep(adam);
            return (adapter.Step, gradNorm);
        });
        return new OptimStepResult(step, norm, timing);
    }

    /// <summary>Samples continuations of a prompt; log-probabilities are the model's own (temperature 1) for each chosen token.</summary>
    public async Task<SampleResult> SampleAsync(string key, int[] prompt, SamplingParams sampling)
    {
        TrainingValidation.Sampling(prompt, sampling, Spec.VocabularySize, Spec.ContextLength);
        var (sequences, timing) = await _worker.RunAsync(() => Sample(Adapter(key), prompt, sampling));
        return new SampleResult(sequences, timing);
    }

    /// <summary>Writes the adapter's weights (and optimizer state) to <paramref name="path"/> (relative to the state directory).</summary>
    public async Task<CheckpointResult> SaveStateAsync(string key, string path, bool includeOptimizerState)
    {
        TrainingValidation.StatePath(path);
        var fullPath = Resolve(path);
        var ((withOptimizer, step), timing) = await _worker.RunAsync(() =>
        {
            var adapter = Adapter(key);
            var (tensors, includesOptimizer) = adapter.Export(includeOptimizerState);
            var metadata = new Dictionary<string, string>
            {
                ["baseModelFingerprint"] = Base.Fingerprint,
                ["lora"] = JsonSerializer.Serialize(adapter.Config),
                ["step"] = adapter.Step.ToString(CultureInfo.InvariantCulture),
                ["includesOptimizerState"] = includesOptimizer ? "true" : "false",
            };
            try
            {
                TensorFile.Write(fullPath, TensorFile.AdapterKind, metadata, tensors);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw CoordinatorException.InvalidArgument($"State file '{fullPath}' cannot be written: {ex.Message}");
            }

            return (includesOptimizer, adapter.Step);
        });
        return new CheckpointResult(fullPath, withOptimizer, step, timing);
    }

    /// <summary>
    /// Replaces the adapter's weights (and optimizer state) with a file written by <see cref="SaveStateAsync"/> for the
    /// same base model and LoRA shape. The whole file is verified first; on any error the adapter is unchanged.
    /// </summary>
    public async Task<CheckpointResult> LoadStateAsync(string key, string path, bool includeOptimizerState)
    {
        TrainingValidation.StatePath(path);
        var fullPath = Resolve(path);
        var (step, timing) = await _worker.RunAsync(() =>
        {
            var adapter = Adapter(key);
            var (header, tensors) = TensorFile.Read(fullPath, TensorFile.AdapterKind);
            var fingerprint = header.Required("baseModelFingerprint", fullPath);
            if (fingerprint != Base.Fingerprint)
            {
                throw CoordinatorException.InvalidArgument($"State file '{fullPath}' was saved on base model {fingerprint}; this replica's base model is {Base.Fingerprint}.");
            }

            var saved = SavedLora(header.Required("lora", fullPath), fullPath);
            if (!saved.SameShapeAs(adapter.Config))
            {
                throw CoordinatorException.InvalidArgument(
                    $"State file '{fullPath}' holds a rank {saved.Rank}, alpha {saved.Alpha} adapter on [{string.Join(", ", saved.TargetModules)}]; this model is rank {adapter.Config.Rank}, alpha {adapter.Config.Alpha} on [{string.Join(", ", adapter.Config.TargetModules)}].");
            }

            if (includeOptimizerState && header.Required("includesOptimizerState", fullPath) != "true")
            {
                throw CoordinatorException.InvalidArgument($"State file '{fullPath}' has no optimizer state; load it with IncludeOptimizerState = false.");
            }

            var stepText = header.Required("step", fullPath);
            if (!long.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out var savedStep))
            {
                throw CoordinatorException.InvalidArgument($"State file '{fullPath}' has an invalid 'step' entry '{stepText}'; expected a whole number >= 0.");
            }

            adapter.Import(tensors, includeOptimizerState, includeOptimizerState ? savedStep : 0, fullPath);
            return adapter.Step;
        });
        return new CheckpointResult(fullPath, includeOptimizerState, step, timing);
    }

    /// <summary>Stops the device thread and frees every tensor; later calls do nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _worker.RunAsync(() =>
        {
            lock (_adapters)
            {
                foreach (var adapter in _adapters.Values)
                {
                    adapter.Dispose();
                }

                _adapters.Clear();
            }

            _base?.Dispose();
            return true;
        });
        _worker.Dispose();
    }

    private static void ValidateLora(LoraConfig lora)
    {
        if (lora is null)
        {
            throw CoordinatorException.InvalidArgument("Lora must be given.");
        }

        lora.Validate();
    }

    private static LoraConfig SavedLora(string json, string path)
    {
        LoraConfig? saved;
        try
        {
            saved = JsonSerializer.Deserialize<LoraConfig>(json);
        }
        catch (JsonException ex)
        {
            throw CoordinatorException.InvalidArgument($"State file '{path}' has an invalid 'lora' entry: {ex.Message}");
        }

        return saved is { TargetModules: not null }
            ? saved
            : throw CoordinatorException.InvalidArgument($"State file '{path}' has an invalid 'lora' entry: it names no LoRA config with target modules.");
    }

    private LoraAdapter Adapter(string key)
    {
        lock (_adapters)
        {
            return _adapters.TryGetValue(key, out var adapter) ? adapter : throw CoordinatorException.NotFound("Adapter", key);
        }
    }

    private string Resolve(string path) => Path.GetFullPath(path, _stateDirectory);

    private (double Loss, int Tokens) Loss(LoraAdapter adapter, IReadOnlyList<Datum> batch, bool backward)
    {
        using var scope = NewDisposeScope();
        using var gradients = backward ? null : no_grad();
        var rows = batch.Count;
        var time = batch.Max(d => d.InputTokens.Length);
        var inputs = new long[rows * time];
        var targets = new long[rows * time];
        var weights = new float[rows * time];
        var counted = 0;
        for (var r = 0; r < rows; r++)
        {
            var datum = batch[r];
            for (var t = 0; t < datum.InputTokens.Length; t++)
            {
                inputs[(r * time) + t] = datum.InputTokens[t];
                targets[(r * time) + t] = datum.TargetTokens[t];
                weights[(r * time) + t] = datum.LossWeights[t];
                counted += datum.LossWeights[t] > 0 ? 1 : 0;
            }
        }

        var total = batch.Sum(d => d.LossWeights.Sum(x => (double)x));
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = (float)(weights[i] / total);
        }

        var device = Base.Device;
        var logits = Base.Forward(tensor(inputs, [rows, time]).to(device), adapter);
        var perToken = nn.functional.cross_entropy(logits.reshape(-1, Spec.VocabularySize), tensor(targets).to(device), reduction: nn.Reduction.None);
        var w = tensor(weights).to(device);
        // Weights were normalised to sum 1 in double above, so huge finite weights cannot overflow float32 here.
        var loss = (perToken * w).sum();
        if (backward)
        {
            loss.backward();
            adapter.GradientsAccumulated();
        }

        return (loss.item<float>(), counted);
    }

    private List<SampledSequence> Sample(LoraAdapter adapter, int[] prompt, SamplingParams sampling)
    {
        using var scope = NewDisposeScope();
        using var noGradients = no_grad();
        var n = sampling.NumSamples;
        var stops = new HashSet<int>(sampling.StopTokens ?? []);
        using var generator = new Generator(unchecked((ulong)sampling.Seed));
        var context = new List<long>[n];
        var tokens = new List<int>[n];
        var logProbs = new List<float>[n];
        var reasons = new StopReason?[n];
        for (var i = 0; i < n; i++)
        {
            context[i] = [.. prompt.Select(t => (long)t)];
            tokens[i] = [];
            logProbs[i] = [];
        }

        for (var step = 0; step < sampling.MaxTokens && reasons.Any(r => r is null); step++)
        {
            var length = context[0].Count;
            if (length >= Spec.ContextLength)
            {
                for (var i = 0; i < n; i++)
                {
                    reasons[i] ??= StopReason.ContextLength;
                }

                break;
            }

            using var stepScope = NewDisposeScope();
            var input = tensor(context.SelectMany(c => c).ToArray(), [n, length]).to(Base.Device);
            var last = Base.Forward(input, adapter).select(1, length - 1).to(float32).cpu();
            var modelLogProbs = nn.functional.log_softmax(last, -1);
            Tensor chosen;
            if (sampling.Temperature == 0)
            {
                chosen = last.argmax(-1, keepdim: true);
            }
            else
            {
                // Scalars held while torch reads them: see HeldScalars.
                using var temperature = sampling.Temperature.ToScalar();
                var probabilities = nn.functional.softmax(last.div(temperature), -1);
                if (sampling.TopP < 1)
                {
                    using var topP = sampling.TopP.ToScalar();
                    using var zero = 0f.ToScalar();
                    var (sorted, order) = probabilities.sort(-1, descending: true);
                    var outside = (sorted.cumsum(-1) - sorted).gt(topP);
                    var kept = sorted.masked_fill(outside, zero);
                    var pick = multinomial(kept / kept.sum(-1, keepdim: true), 1, false, generator);
                    chosen = order.gather(-1, pick);
                }
                else
                {
                    chosen = multinomial(probabilities, 1, false, generator);
                }
            }

            var picked = chosen.reshape(n).data<long>().ToArray();
            var pickedLogProbs = modelLogProbs.gather(-1, chosen).reshape(n).data<float>().ToArray();
            for (var i = 0; i < n; i++)
            {
                context[i].Add(picked[i]);
                if (reasons[i] is not null)
                {
                    continue;
                }

                tokens[i].Add((int)picked[i]);
                logProbs[i].Add(pickedLogProbs[i]);
                if (stops.Contains((int)picked[i]))
                {
                    reasons[i] = StopReason.StopToken;
                }
            }
        }

        return [.. Enumerable.Range(0, n).Select(i => new SampledSequence([.. tokens[i]], [.. logProbs[i]], reasons[i] ?? StopReason.MaxTokens))];
    }
}

/// <summary>Loads the torch natives and describes devices.</summary>
internal static class TorchRuntime
{
    public static void EnsureLoaded() => _ = cuda.is_available();

    public static Device SelectDevice(string choice) => choice switch
    {
        "auto" => cuda.is_available() ? CUDA : CPU,
        "cpu" => CPU,
        "cuda" => cuda.is_available() ? CUDA : throw CoordinatorException.InvalidArgument("Device 'cuda' was asked for but CUDA is not available (no GPU, driver, or CUDA build of the natives)."),
        _ => throw CoordinatorException.InvalidArgument($"Device must be 'auto', 'cpu' or 'cuda' (got '{choice}')."),
    };

    public static DeviceDescription Describe(Device device) => device.type == DeviceType.CUDA
        ? new DeviceDescription("cuda", $"cuda:{device.index} ({cuda.device_count()} visible)", 0)
        : new DeviceDescription("cpu", $"{RuntimeInformation.ProcessArchitecture} x{Environment.ProcessorCount}, {get_num_threads()} torch threads", GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
}
