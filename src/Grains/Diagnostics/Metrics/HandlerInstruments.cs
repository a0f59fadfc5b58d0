using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Hosting;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>
/// Per grain method instruments (<see cref="HandlerMetricsFilter"/> feeds them), labelled <c>grain</c> (the grain class)
/// and <c>method</c>. Durations are in seconds, in buckets from 100 µs (a grain call) to 600 s (a training operation).
/// </summary>
internal static class HandlerInstruments
{
    private static readonly Meter Meter = new(CoordinatorTelemetry.MeterName);

    // Calls counted per grain and method by the filter itself and read when metrics are collected: the two counts every
    // call changes three times cost an increment each instead of three measurements aggregated by tag.
    private static readonly ConcurrentDictionary<(string Grain, string Method), MethodCounts> Counts = new();

    private static readonly ObservableCounter<long> Requests = Meter.CreateObservableCounter(
        InstrumentNames.HandlerRequests, () => Observe(static c => Volatile.Read(ref c.Requests)), null, "Grain calls handled, by grain and method.");

    private static readonly Histogram<double> Duration = Meter.CreateHistogram(
        InstrumentNames.HandlerRequestDuration, "s", "Time from the start of a grain call's turn to its answer, by grain and method.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });

    private static readonly ObservableUpDownCounter<long> Inflight = Meter.CreateObservableUpDownCounter(
        InstrumentNames.HandlerInflightRequests, () => Observe(static c => Volatile.Read(ref c.Inflight)), null, "Grain calls being handled now, by grain and method.");

    private static readonly Counter<long> Errors = Meter.CreateCounter<long>(
        InstrumentNames.HandlerErrors, null, "Grain calls that failed, by grain, method and error type (an error code, timeout, cancelled, or other).");

    private static readonly Counter<long> Cancellations = Meter.CreateCounter<long>(
        InstrumentNames.HandlerCancellations, null, "Grain calls cancelled, by grain and method.");

    private static readonly Histogram<double> Transit = Meter.CreateHistogram(
        InstrumentNames.HandlerNetworkTransit, "s", "Time from a call's sending (the sender's clock) to its arrival, by grain and method; calls whose sender did not stamp them are left out.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });

    private static readonly Histogram<double> QueueWait = Meter.CreateHistogram(
        InstrumentNames.HandlerQueueWait, "s", "Time a call waited for its turn while other calls held its activation, by grain and method; calls whose sender did not stamp them are left out.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });

    private static readonly Histogram<double> Phase = Meter.CreateHistogram(
        InstrumentNames.HandlerPhase, "s",
        "A handler's time by phase: on_thread (its own slices on a thread), unmarked (awaits not marked), grain_calls, storage, trainer (waiting on each); by grain and method. A phase is recorded for the calls that had it.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });

    private static readonly Histogram<double> TimeToFirstResponse = Meter.CreateHistogram(
        InstrumentNames.HandlerTimeToFirstResponse, "s",
        "Time from an operation's submission until a caller was first told its outcome (callers long-poll for it), by grain, the method that told it, and operation kind.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CoordinatorTelemetry.DurationBuckets });

    private static readonly Counter<long> RequestByteCount = Meter.CreateCounter<long>(
        InstrumentNames.HandlerRequestBytes, null, "Bytes of the requests grain calls carried, by grain and method, where the size is known without encoding anything again (training operations submitted).");

    private static readonly Counter<long> ResponseByteCount = Meter.CreateCounter<long>(
        InstrumentNames.HandlerResponseBytes, null, "Bytes of the responses grain calls carried, by grain and method, where the size is known without encoding anything again (training operation outputs).");

    /// <summary>Whether anything listens: with no meter provider subscribed, the filter records nothing.</summary>
    public static bool Enabled => Requests.Enabled || Duration.Enabled || Inflight.Enabled || Errors.Enabled || Cancellations.Enabled
        || Transit.Enabled || QueueWait.Enabled || Phase.Enabled;

    /// <summary>
    /// An operation submitted <paramref name="since"/> ago had its outcome told for the first time, by
    /// <paramref name="method"/> of <paramref name="grain"/>.
    /// </summary>
    public static void FirstResponse(string grain, string method, string operation, TimeSpan since) =>
        TimeToFirstResponse.Record(since.TotalSeconds, new TagList { { "grain", grain }, { "method", method }, { "operation", operation } });

    /// <summary>A call of <paramref name="method"/> carried a request of <paramref name="bytes"/>.</summary>
    public static void RequestBytes(string grain, string method, long bytes) =>
        RequestByteCount.Add(bytes, new TagList { { "grain", grain }, { "method", method } });

    /// <summary>A call of <paramref name="method"/> answered with <paramref name="bytes"/>.</summary>
    public static void ResponseBytes(string grain, string method, long bytes) =>
        ResponseByteCount.Add(bytes, new TagList { { "grain", grain }, { "method", method } });

    /// <summary>The counts of calls of <paramref name="method"/> of <paramref name="grain"/>, made on first use.</summary>
    public static MethodCounts CountsOf(string grain, string method) => Counts.GetOrAdd((grain, method), static _ => new MethodCounts());

    /// <summary>A call's turn started.</summary>
    public static void Started(MethodCounts counts) => Interlocked.Increment(ref counts.Inflight);

    /// <summary>
    /// A call answered, or failed with <paramref name="error"/>; it spent <paramref name="transit"/> reaching this silo,
    /// <paramref name="queue"/> waiting for its turn (both null: not stamped), and <paramref name="time"/> in its handler.
    /// </summary>
    public static void Finished(MethodCounts counts, in TagList tags, in HandlerTime time, TimeSpan? transit, TimeSpan? queue, Exception? error)
    {
        Interlocked.Decrement(ref counts.Inflight);
        Interlocked.Increment(ref counts.Requests);
        Duration.Record(time.Duration.TotalSeconds, tags);
        if (transit is { } t)
        {
            Transit.Record(t.TotalSeconds, tags);
        }

        if (queue is { } q)
        {
            QueueWait.Record(q.TotalSeconds, tags);
        }

        RecordPhase(tags, "on_thread", time.OnThread);
        RecordPhase(tags, "unmarked", time.Unmarked);
        RecordPhase(tags, "grain_calls", time.GrainCalls);
        RecordPhase(tags, "storage", time.Storage);
        RecordPhase(tags, "trainer", time.Trainer);
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

    private static IEnumerable<Measurement<long>> Observe(Func<MethodCounts, long> read) =>
        Counts.Select(c => new Measurement<long>(read(c.Value), new KeyValuePair<string, object?>("grain", c.Key.Grain), new KeyValuePair<string, object?>("method", c.Key.Method)));

    private static void RecordPhase(in TagList tags, string phase, TimeSpan time)
    {
        if (time > TimeSpan.Zero)
        {
            var withPhase = tags;
            withPhase.Add("phase", phase);
            Phase.Record(time.TotalSeconds, withPhase);
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
