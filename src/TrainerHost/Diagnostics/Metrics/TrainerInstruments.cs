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

    public TrainerInstruments(TrainerRuntime runtime)
    {
        _operation = _meter.CreateHistogram(
            InstrumentNames.OperationDuration, "s", "Where an operation's time on the trainer went, by kind and phase (transit, sequence, queue, compute).", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });
        _optimSteps = _meter.CreateCounter<long>(InstrumentNames.OptimSteps, null, "Optimizer steps applied, over every adapter.");
        _meter.CreateObservableGauge(InstrumentNames.DeviceQueueDepth, () => runtime.QueueDepth, null, "Operations waiting for the device thread.");
    }

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
