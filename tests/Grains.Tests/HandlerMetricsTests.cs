using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Telemetry;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Diagnostics.Latency;
using Coordinator.Grains.Diagnostics.Metrics;

namespace Coordinator.Grains.Tests;

/// <summary>
/// Every grain call is measured by grain and method on the Coordinator meter: requests, duration, in flight, errors by
/// type, cancellations. Read with a MeterListener on a real in-process cluster.
/// </summary>
public sealed class HandlerMetricsTests : IClassFixture<TwoSiloClusterFixture>, IDisposable
{
    private static readonly ForwardOperation Forward = new([new Datum([1, 2], [2, 3], [1f, 1f])]);
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, string?> Tags)> _measured = new();
    private readonly TwoSiloClusterFixture _fixture;
    private readonly MeterListener _listener;

    public HandlerMetricsTests(TwoSiloClusterFixture fixture)
    {
        _fixture = fixture;
        _listener = Listen();
    }

    private CoordinatorCluster C => _fixture.Cluster;

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task Calls_are_counted_timed_and_their_errors_typed_by_grain_and_method()
    {
        _listener.Start();
        var before = Observed(InstrumentNames.HandlerRequests);
        var (modelId, _, _) = await C.ModelOnNewReplicaAsync();
        var session = await C.Client.OpenSessionAsync(TestData.Id("tok"));
        var denied = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.HeartbeatSessionAsync(session.SessionId, "not-the-owner"));
        await C.Client.RunAsync(modelId, Forward);
        var refused = await C.Client.WaitAsync(await C.Client.SubmitAsync(modelId, new ForwardOperation([.. Enumerable.Range(0, 13).Select(i => new Datum([i, 2], [2, 3], [1f, 1f]))])), TimeSpan.FromSeconds(30));

        // Counts compared over the session grain, which only this test calls: a background call finishing while the
        // listener enables its instruments one by one may be counted by some of them and not others. Requests are
        // counted since the process started (the filter keeps them), so this test's are those added since it began.
        static bool Session((string Instrument, double Value, Dictionary<string, string?> Tags) m) => m.Tags["grain"] == "SessionGrain";
        var requests = Observed(InstrumentNames.HandlerRequests).ToDictionary(m => m.Key, m => m.Value - before.GetValueOrDefault(m.Key));
        Assert.True(requests.GetValueOrDefault(("SessionGrain", "CreateModelAsync")) > 0);
        Assert.True(requests.GetValueOrDefault(("TrainerDoubleGrain", "ExecuteAsync")) > 0);
        Assert.All(Of(InstrumentNames.HandlerRequestDuration), m => Assert.True(m.Value is > 0 and < 30));
        var sessionRequests = requests.Where(m => m.Key.Grain == "SessionGrain").Sum(m => m.Value);
        Assert.Equal(sessionRequests, Of(InstrumentNames.HandlerRequestDuration).Count(Session));
        Assert.Contains(Of(InstrumentNames.HandlerErrors), m => (m.Tags["grain"], m.Tags["method"], m.Tags["error_type"]) == ("SessionGrain", "HeartbeatAsync", denied.Code.ToString()));
        Assert.Equal(OperationStatus.Failed, refused.Status);
        Assert.Contains(Of(InstrumentNames.HandlerErrors), m => (m.Tags["grain"], m.Tags["method"], m.Tags["error_type"]) == ("TrainerDoubleGrain", "ExecuteAsync", "InvalidArgument"));

        // The client and the silos stamp their calls, so every call has its transit; each handler its phases.
        Assert.Equal(sessionRequests, Of(InstrumentNames.HandlerNetworkTransit).Count(Session));
        Assert.Equal(sessionRequests, Of(InstrumentNames.HandlerQueueWait).Count(Session));
        Assert.Contains(Of(InstrumentNames.HandlerNetworkTransit), m => (m.Tags["grain"], m.Tags["method"]) == ("TrainerDoubleGrain", "ExecuteAsync"));
        Assert.Contains(Of(InstrumentNames.HandlerNetworkTransit), m => (m.Tags["grain"], m.Tags["method"]) == ("SessionGrain", "CreateModelAsync") && m.Value >= 0);
        var phases = Of(InstrumentNames.HandlerPhase);
        Assert.Contains(phases, m => (m.Tags["grain"], m.Tags["method"], m.Tags["phase"]) == ("SessionGrain", "CreateModelAsync", "on_thread"));
        Assert.Contains(phases, m => (m.Tags["grain"], m.Tags["method"], m.Tags["phase"]) == ("SessionGrain", "CreateModelAsync", "grain_calls"));
        Assert.Contains(phases, m => (m.Tags["grain"], m.Tags["phase"]) == ("SessionGrain", "storage"));
        Assert.Contains(phases, m => (m.Tags["grain"], m.Tags["method"], m.Tags["phase"]) == ("ModelGrain", "SubmitAndAwaitAsync", "trainer"));
        Assert.All(phases, m => Assert.Contains(m.Tags["phase"], new[] { "on_thread", "unmarked", "grain_calls", "storage", "trainer" }));

        // Sizes where they are known: the submitted operations (13 data outweigh 1), and the outputs told.
        var oneDatum = Assert.Single(Of(InstrumentNames.HandlerRequestBytes), m => m.Tags["method"] == "SubmitAndAwaitAsync").Value;
        var thirteen = Assert.Single(Of(InstrumentNames.HandlerRequestBytes), m => m.Tags["method"] == "SubmitAsync").Value;
        Assert.InRange(oneDatum, 1, thirteen / 2);
        Assert.Contains(Of(InstrumentNames.HandlerResponseBytes), m => (m.Tags["grain"], m.Tags["method"]) == ("ModelGrain", "SubmitAndAwaitAsync") && m.Value > 0);
    }

    [Fact]
    public async Task A_call_is_in_flight_while_its_turn_runs_and_a_cancelled_one_is_counted_as_such()
    {
        var (modelId, _, script) = await C.ModelOnNewReplicaAsync();
        _listener.Start();
        double Executing() => Observed(InstrumentNames.HandlerInflightRequests).GetValueOrDefault(("TrainerDoubleGrain", "ExecuteAsync"));
        var before = Executing();
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ticket = await C.Client.SubmitAsync(modelId, Forward);
        await script.Started.WaitAsync(TimeSpan.FromSeconds(30));

        var inflight = Executing();
        script.Gate.SetCanceled();
        var outcome = await C.Client.WaitAsync(ticket, TimeSpan.FromSeconds(30));

        Assert.Equal(before + 1, inflight);
        Assert.Equal(before, Executing());
        Assert.Equal(OperationStatus.Failed, outcome.Status);
        Assert.Contains(Of(InstrumentNames.HandlerErrors), m => (m.Tags["grain"], m.Tags["method"], m.Tags["error_type"]) == ("TrainerDoubleGrain", "ExecuteAsync", "cancelled"));
        Assert.Single(Of(InstrumentNames.HandlerCancellations), m => m.Tags["method"] == "ExecuteAsync");
    }

    [Fact]
    public async Task A_long_polled_operation_reports_the_time_from_its_submission_to_its_first_answer_once()
    {
        var (modelId, _, script) = await C.ModelOnNewReplicaAsync();
        _listener.Start();
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ticket = await C.Client.SubmitAsync(modelId, Forward);
        await script.Started.WaitAsync(TimeSpan.FromSeconds(30));
        C.Time.Advance(TimeSpan.FromSeconds(7));
        script.Gate.SetResult();

        var outcome = await C.Client.WaitAsync(ticket, TimeSpan.FromSeconds(30));
        var again = await C.Client.WaitAsync(ticket, TimeSpan.FromSeconds(30));

        Assert.Equal(OperationStatus.Succeeded, outcome.Status);
        Assert.Equal(outcome.CompletedAt, again.CompletedAt);
        var first = Assert.Single(Of(InstrumentNames.HandlerTimeToFirstResponse), m => m.Tags["operation"] == "forward");
        Assert.Equal(7, first.Value);
        Assert.Equal(("ModelGrain", "AwaitOperationsAsync"), (first.Tags["grain"], first.Tags["method"]));
    }

    [Fact]
    public void A_call_its_sender_did_not_stamp_has_no_transit_and_no_queue_wait_measured()
    {
        _listener.Start();
        var time = new HandlerTime(TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(2), null, null, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);
        var tags = new System.Diagnostics.TagList { { "grain", "UnitTestGrain" }, { "method", "Unstamped" } };
        HandlerInstruments.Finished(new MethodCounts(), tags, time, transit: null, queue: null, error: null);
        tags = new System.Diagnostics.TagList { { "grain", "UnitTestGrain" }, { "method", "Stamped" } };
        HandlerInstruments.Finished(new MethodCounts(), tags, time, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(3), error: null);

        static bool Unit((string Instrument, double Value, Dictionary<string, string?> Tags) m) => m.Tags["grain"] == "UnitTestGrain";
        Assert.Equal(["Stamped", "Unstamped"], Of(InstrumentNames.HandlerRequestDuration).Where(Unit).Select(m => m.Tags["method"]).Order());
        Assert.Equal("Stamped", Assert.Single(Of(InstrumentNames.HandlerNetworkTransit), Unit).Tags["method"]);
        var queue = Assert.Single(Of(InstrumentNames.HandlerQueueWait), Unit);
        Assert.Equal(("Stamped", 0.003), (queue.Tags["method"], queue.Value));
    }

    private List<(string Instrument, double Value, Dictionary<string, string?> Tags)> Of(string instrument) => [.. _measured.Where(m => m.Instrument == instrument)];

    /// <summary>What an observable instrument reports now, by grain and method.</summary>
    private Dictionary<(string Grain, string Method), double> Observed(string instrument)
    {
        var skip = _measured.Count;
        _listener.RecordObservableInstruments();
        return _measured.Skip(skip).Where(m => m.Instrument == instrument).ToDictionary(m => (m.Tags["grain"]!, m.Tags["method"]!), m => m.Value);
    }

    private MeterListener Listen()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == CoordinatorTelemetry.MeterName && instrument.Name.StartsWith("coordinator.handler.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        return listener;
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var named = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (key, tag) in tags)
        {
            named[key] = tag?.ToString();
        }

        _measured.Enqueue((instrument.Name, value, named));
    }
}
