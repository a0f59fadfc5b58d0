using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Coordinator.Contracts.Training;
using Coordinator.TestSupport;
using Coordinator.Training.Tasks;

namespace Coordinator.TrainerHost.Tests;

/// <summary>
/// A silo and a trainer host exporting over OTLP (HTTP/protobuf) to a receiver on loopback, with their run events exported
/// as log records: the real processes' exporters, read back from the wire.
/// </summary>
public sealed partial class OtlpExportTests(OtlpExportTests.OtlpCluster cluster) : IClassFixture<OtlpExportTests.OtlpCluster>
{
    [Fact]
    public async Task Logs_and_run_events_reach_the_OTLP_endpoint_with_their_traces_and_duration_histograms_carry_trace_exemplars()
    {
        await cluster.StartTrainerAsync("otlp-1", "otlp");
        var modelId = await cluster.CreateModelAsync("otlp");
        var task = new AdditionTask(maxOperand: 20);
        var random = new Random(3);
        for (var i = 0; i < 3; i++)
        {
            await cluster.Client.ForwardBackwardAsync(modelId, task.Batch(random, 8));
            await cluster.Client.OptimStepAsync(modelId, new AdamParams(LearningRate: 1e-2));
        }

        var otlp = cluster.Receiver;
        bool Event(OtlpLog log, string type) => log.Attributes.TryGetValue("event.type", out var t) && (string?)t == type
            && (string?)log.Attributes.GetValueOrDefault("coordinator.model_id") == modelId;
        await TrainingCluster.WaitUntilAsync(() => Task.FromResult(
            otlp.Logs.Count(l => Event(l, "training.finished")) >= 6 && otlp.Logs.Any(l => Event(l, "coordinator.operation_completed"))),
            TimeSpan.FromSeconds(60), "the run's events as OTLP log records");

        // Each event is one record, with its own time, trace and span, its node's resource, its stamp and fields.
        var finished = otlp.Logs.Where(l => Event(l, "training.finished")).ToList();
        Assert.Equal(finished.Count, finished.Select(l => (long)l.Attributes["event.sequence"]!).Distinct().Count());
        Assert.All(finished, l =>
        {
            Assert.Equal("coordinator-trainer", l.Resource["service.name"]);
            Assert.Equal("otlp-1", l.Attributes["node.id"]);
            Assert.Matches("^[0-9a-f]{32}$", l.TraceId);
            Assert.Matches("^[0-9a-f]{16}$", l.SpanId);
            Assert.IsType<string>(l.Attributes["event.kind"]);
            Assert.DoesNotContain(l.Attributes.Keys, k => k.StartsWith("coordinator.recorded.", StringComparison.Ordinal));
            // The record's time is the event's (its clock's wall part, on one machine), not the export's.
            var wall = long.Parse(((string)l.Attributes["event.clock"]!).Split('.')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(l.At.ToUnixTimeMilliseconds() - wall, -1, 1);
        });
        Assert.Equal(3, finished.Count(l => l.Attributes.GetValueOrDefault("event.loss") is double));
        Assert.Contains(otlp.Logs, l => Event(l, "coordinator.operation_completed") && l.Resource["service.name"] == "coordinator-silo");

        // The events' traces are the calls' traces: each names a trace whose spans reached the endpoint too.
        await TrainingCluster.WaitUntilAsync(() => Task.FromResult(finished.All(l => otlp.Spans.Any(s => s.TraceId == l.TraceId))),
            TimeSpan.FromSeconds(30), "the spans of the events' traces");

        // Traces begin with the Coordinator's work, not with what Orleans' runtime and the dashboard do by themselves.
        await TrainingCluster.WaitUntilAsync(() => Task.FromResult(otlp.Spans.Any(s => s.Name.StartsWith("IModelGrain/", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(30), "the model grain's spans");
        Assert.DoesNotContain(otlp.Spans, s => s.Name.StartsWith("IManagementGrain/", StringComparison.Ordinal)
            || s.Name.StartsWith("IMembershipTable/", StringComparison.Ordinal) || s.Name.StartsWith("IGrainTimerInvoker/", StringComparison.Ordinal)
            || s.Name.StartsWith("IEventRecorderGrain/", StringComparison.Ordinal));

        // An ordinary log line written in a grain call carries that call's trace.
        await TrainingCluster.WaitUntilAsync(() => Task.FromResult(otlp.Logs.Any(l => l.Body?.Contains(" created", StringComparison.Ordinal) == true
            && l.Body.StartsWith("Session ", StringComparison.Ordinal) && l.TraceId.Length == 32 && otlp.Spans.Any(s => s.TraceId == l.TraceId))),
            TimeSpan.FromSeconds(30), "the session's log line with its trace");

        // Events go to OTLP, not to the console.
        Assert.DoesNotContain("Coordinator.Events.Export", cluster.Silo.Output, StringComparison.Ordinal);
        await TrainingCluster.WaitUntilAsync(() => Task.FromResult(otlp.MetricExports >= 3 && otlp.MetricNames.Contains("coordinator.handler.request_duration")),
            TimeSpan.FromSeconds(30), "three OTLP metrics exports (one a second) with the handler histograms");

        // Exemplars: a bucket of the handler duration histogram names the trace of a call it measured.
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{cluster.SiloHttp}/metrics");
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse("application/openmetrics-text; version=1.0.0"));
        var scrape = await (await http.SendAsync(request)).Content.ReadAsStringAsync();
        var exemplars = Exemplar().Matches(scrape).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(exemplars);
        await TrainingCluster.WaitUntilAsync(() => Task.FromResult(exemplars.Any(t => otlp.Spans.Any(s => s.TraceId == t))),
            TimeSpan.FromSeconds(30), "the span of an exemplar's trace");
    }

    [GeneratedRegex("""^coordinator_handler_request_duration_seconds_bucket\{[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})""", RegexOptions.Multiline)]
    private static partial Regex Exemplar();

    /// <summary>The cluster, exporting to an <see cref="OtlpReceiver"/>: traces, metrics, logs and run events.</summary>
    public sealed class OtlpCluster : TrainingCluster
    {
        public OtlpReceiver Receiver { get; private set; } = null!;

        public override async Task InitializeAsync()
        {
            Receiver = await OtlpReceiver.StartAsync();
            ProcessEnvironment["COORDINATOR_Telemetry__OtlpEndpoint"] = Receiver.Endpoint;
            ProcessEnvironment["COORDINATOR_Telemetry__OtlpProtocol"] = "HttpProtobuf";
            ProcessEnvironment["COORDINATOR_Telemetry__OtlpMetricPeriod"] = "00:00:01";
            ProcessEnvironment["COORDINATOR_Events__ExportOtlp"] = "true";
            await base.InitializeAsync();
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await Receiver.DisposeAsync();
        }
    }
}
