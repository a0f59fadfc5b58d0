using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Hosting;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>
/// Per grain method instruments (<see cref="HandlerMetricsFilter"/> feeds them), labelled <c>grain</c> (the grain class)
/// and <c>method</c>. Durations are in seconds, in buckets from 100 µs (a grain call) to 600 s (a training operation).
/// </summary>
internal static class HandlerInstruments
{
    private static readonly Meter Meter = new(CoordinatorTelemetry.MeterName);

    private static readonly Counter<long> Requests = Meter.CreateCounter<long>(
        InstrumentNames.HandlerRequests, null, "Grain calls handled, by grain and method.");

    private static readonly Histogram<double> Duration = Meter.CreateHistogram(
        InstrumentNames.HandlerRequestDuration, "s", "Time from the start of a grain call's turn to its answer, by grain and method.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });

    private static readonly UpDownCounter<long> Inflight = Meter.CreateUpDownCounter<long>(
        InstrumentNames.HandlerInflightRequests, null, "Grain calls being handled now, by grain and method.");

    private static readonly Counter<long> Errors = Meter.CreateCounter<long>(
        InstrumentNames.HandlerErrors, null, "Grain calls that failed, by grain, method and error type (an error code, timeout, cancelled, or other).");

    private static readonly Counter<long> Cancellations = Meter.CreateCounter<long>(
        InstrumentNames.HandlerCancellations, null, "Grain calls cancelled, by grain and method.");

    /// <summary>Whether anything listens: with no meter provider subscribed, the filter does nothing.</summary>
    public static bool Enabled => Requests.Enabled || Duration.Enabled || Inflight.Enabled || Errors.Enabled || Cancellations.Enabled;

    /// <summary>A call's turn started.</summary>
    public static void Started(in TagList tags) => Inflight.Add(1, tags);

    /// <summary>A call that started at <paramref name="startTimestamp"/> (a Stopwatch timestamp) answered, or failed with <paramref name="error"/>.</summary>
    public static void Finished(in TagList tags, long startTimestamp, Exception? error)
    {
        Inflight.Add(-1, tags);
        Requests.Add(1, tags);
        Duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        if (error is null)
        {
            return;
        }

        var type = ErrorType(error);
        var withType = tags;
        withType.Add("error_type", type);
        Errors.Add(1, withType);
        if (type == "cancelled")
        {
            Cancellations.Add(1, tags);
        }
    }

    /// <summary>
    /// A bounded label: the Coordinator error code; <c>timeout</c>; <c>cancelled</c>; <c>Unavailable</c> for what the error
    /// translation answers as such (storage, messaging); else <c>other</c> (answered as Internal).
    /// </summary>
    public static string ErrorType(Exception error) => error switch
    {
        CoordinatorException coordinator => coordinator.Code.ToString(),
        TimeoutException => "timeout",
        OperationCanceledException => "cancelled",
        _ when ErrorTranslationFilter.IsTransient(error) => nameof(CoordinatorErrorCode.Unavailable),
        _ => "other",
    };
}
