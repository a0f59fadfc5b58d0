using System.Collections.Concurrent;
using System.Diagnostics;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Diagnostics.Latency;

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

    [Fact]
    public async Task A_calls_span_says_how_much_of_its_time_on_the_thread_was_CPU_and_waiting_for_a_core()
    {
        if (!ThreadCpu.Supported || !ThreadCpu.RunQueueSupported)
        {
            // Not Linux: the handler's clocks are not read, and its span says only its time on the thread.
            return;
        }

        var stopped = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
            Sample = (ref _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);

        // The method's first call in this process: it reads the thread's clocks.
        var spin = TimeSpan.FromMilliseconds(20);
        await fixture.Cluster.Grains.GetGrain<IProbeGrain>(TestData.Id("probe")).WorkAsync(spin);

        var span = Assert.Single(stopped, a => a.Kind == ActivityKind.Server && ((string?)a.GetTagItem("rpc.method"))?.EndsWith("/WorkAsync", StringComparison.Ordinal) == true);
        var onThread = (double)span.GetTagItem("coordinator.on_thread_ms")!;
        var cpu = Assert.IsType<double>(span.GetTagItem("coordinator.cpu_ms"));
        var waited = Assert.IsType<double>(span.GetTagItem("coordinator.run_queue_ms"));
        Assert.True(onThread >= spin.TotalMilliseconds && cpu > 0 && cpu + waited <= onThread + 1, $"on thread {onThread} ms, cpu {cpu} ms, waiting for a core {waited} ms");
    }
}
