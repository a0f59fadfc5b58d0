using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Telemetry;
using Coordinator.Contracts.Training;
using Coordinator.TrainerHost.Trainers;

namespace Coordinator.TrainerHost.Diagnostics.Metrics;

/// <summary>The trainer host's instruments, on the <see cref="CoordinatorTelemetry.MeterName"/> meter.</summary>
internal sealed class TrainerInstruments : IDisposable
{
    private readonly Meter _meter = new(CoordinatorTelemetry.MeterName);
    private readonly Histogram<double> _operation;
    private readonly Counter<long> _optimSteps;

    // Per model whose adapter is on this trainer: its last loss and gradient norm (bounded by the trainer's LoRA capacity).
    private readonly ConcurrentDictionary<string, double> _loss = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, double> _gradNorm = new(StringComparer.Ordinal);

    public TrainerInstruments(TrainerRuntime runtime)
    {
        _operation = _meter.CreateHistogram(
            InstrumentNames.OperationDuration, "s", "Where an operation's time on the trainer went, by kind and phase (transit, sequence, queue, compute).", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });
        _optimSteps = _meter.CreateCounter<long>(InstrumentNames.OptimSteps, null, "Optimizer steps applied, over every adapter.");
        _meter.CreateObservableGauge(InstrumentNames.DeviceQueueDepth, () => runtime.QueueDepth, null, "Operations waiting for the device thread.");
        _meter.CreateObservableGauge(InstrumentNames.Loss, () => ByModel(_loss), null, "The loss of the last forward pass of each model's adapter on this trainer, by model.");
        _meter.CreateObservableGauge(InstrumentNames.GradNorm, () => ByModel(_gradNorm), null, "The gradient norm of each model's last optimizer step on this trainer, by model.");
    }

    /// <summary>An operation of <paramref name="modelId"/>'s adapter answered <paramref name="output"/>: its loss or gradient norm is the model's last.</summary>
    public void Trained(string modelId, OperationOutput output)
    {
        if (output.Forward is { } forward)
        {
            _loss[modelId] = forward.Loss;
        }

        if (output.OptimStep is { } step)
        {
            _gradNorm[modelId] = step.GradNorm;
        }
    }

    /// <summary><paramref name="modelId"/>'s adapter left this trainer: its figures leave the gauges.</summary>
    public void Unloaded(string modelId)
    {
        _loss.TryRemove(modelId, out _);
        _gradNorm.TryRemove(modelId, out _);
    }

    private static IEnumerable<Measurement<double>> ByModel(ConcurrentDictionary<string, double> values) =>
        values.Select(v => new Measurement<double>(v.Value, new KeyValuePair<string, object?>("model", v.Key)));

    /// <summary>
    /// Records the phases of an operation sent at <paramref name="sentAt"/> (null when its sender did not stamp it), that
    /// arrived at <paramref name="arrivedAt"/> and ran with <paramref name="timing"/>.
    /// </summary>
    public void Ran(TrainingOperation operation, DateTimeOffset? sentAt, DateTimeOffset arrivedAt, StepTiming timing)
    {
        var kind = new KeyValuePair<string, object?>("kind", operation.Kind);
        if (sentAt is { } sent)
        {
            _operation.Record(Math.Max(0, (arrivedAt - sent).TotalSeconds), kind, new("phase", "transit"));
        }

        _operation.Record(Math.Max(0, (timing.EnqueuedAt - arrivedAt).TotalSeconds), kind, new("phase", "sequence"));
        _operation.Record(timing.QueueTime.TotalSeconds, kind, new("phase", "queue"));
        _operation.Record(timing.ComputeTime.TotalSeconds, kind, new("phase", "compute"));
        if (operation is OptimStepOperation)
        {
            _optimSteps.Add(1);
        }
    }

    public void Dispose() => _meter.Dispose();
}
