using System.Collections.Concurrent;
using System.Diagnostics;
using Coordinator.Contracts.Telemetry;

namespace Coordinator.Grains.Tests;

public sealed class TracingTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    [Fact]
    public async Task Grain_calls_carry_the_callers_trace_and_are_tagged_with_correlation_ids()
    {
        var c = fixture.Cluster;
        var stopped = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == CoordinatorTelemetry.SourceName || s.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
            Sample = (ref _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);

        var baseModel = TestData.Id("base");
        await c.Client.RegisterReplicaAsync(TestData.Id("rep"), TestData.Replica(baseModel, 1));
        var token = TestData.Id("tok");
        var session = await c.Client.OpenSessionAsync(token);
        var model = await c.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());

        using var parent = new ActivitySource("test").StartActivity("test-root") ?? new Activity("test-root").Start();
        await c.Client.PlaceModelAsync(model.ModelId);
        parent.Stop();

        var trace = stopped.Where(a => a.TraceId == parent.TraceId && a != parent).ToList();
        var clientSpan = Assert.Single(trace, a => a.OperationName == "coordinator.model.place");
        Assert.Equal(model.ModelId, clientSpan.GetTagItem(CoordinatorTelemetry.ModelId));

        // Orleans' server-side spans of the model grain and of the capacity grain it calls, in the same trace.
        var serverSpans = trace.Where(a => a.Kind == ActivityKind.Server).ToList();
        Assert.Contains(serverSpans, a => (string?)a.GetTagItem(CoordinatorTelemetry.ModelId) == model.ModelId
            && (string?)a.GetTagItem(CoordinatorTelemetry.SessionId) == session.SessionId
            && (string?)a.GetTagItem(CoordinatorTelemetry.BaseModel) == baseModel);
        Assert.Contains(serverSpans, a => (string?)a.GetTagItem(CoordinatorTelemetry.BaseModel) == baseModel
            && a.GetTagItem(CoordinatorTelemetry.ReplicaId) is string);

        // Each server span carries its call's parts, as numbers, even with no meter listening and no slow-call file: transit
        // (the client and silos stamp calls), queue wait, the handler's phases.
        Assert.All(serverSpans.Where(a => a.GetTagItem(CoordinatorTelemetry.ModelId) is not null), a =>
        {
            Assert.IsType<double>(a.GetTagItem("coordinator.transit_ms"));
            Assert.IsType<double>(a.GetTagItem("coordinator.queue_ms"));
            Assert.True((double)a.GetTagItem("coordinator.on_thread_ms")! >= 0);
            Assert.IsType<double>(a.GetTagItem("coordinator.storage_ms"));
        });
    }
}
