using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Emitting;
using Coordinator.Events.Hosting;
using Coordinator.Events.Shipping;
using Coordinator.Events.Spool;
using Coordinator.Events.Store;
using Microsoft.Extensions.DependencyInjection;
using Coordinator.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;

namespace Coordinator.Grains.Tests;

/// <summary>
/// A node's spooled events shipped to the recorder grains of a real in-process cluster: each held once in the store,
/// whatever is sent twice or fails on the way, and the spool trimmed only through what the store holds.
/// </summary>
public sealed class EventShippingTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-shipping-").FullName;
    private FlakyEventStoreDouble _store = null!;
    private CoordinatorCluster _c = null!;

    private Serializer Serializer => _c.Cluster.Client.ServiceProvider.GetRequiredService<Serializer>();

    public async Task InitializeAsync()
    {
        _store = new FlakyEventStoreDouble();
        _c = await CoordinatorCluster.StartAsync(1, eventStore: _store);
        _store.Inner = new FileEventStore(Path.Combine(_directory, "store"), Serializer, _c.Time, TimeSpan.FromDays(7));
    }

    public async Task DisposeAsync()
    {
        await _c.DisposeAsync();
        _store.Inner.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Events_shipped_again_by_a_restarted_node_are_held_once_and_the_spool_is_trimmed()
    {
        using (var spool = OpenSpool())
        {
            await EmitAsync(spool, 3000);
            var segments = Directory.GetFiles(SpoolDirectory).Length;
            Assert.True(await Shipper(spool).ShipAsync());

            Assert.True(Directory.GetFiles(SpoolDirectory).Length < segments, "the spool was not trimmed");
            Assert.Equal(3000, await _store.HighWaterAsync("run-1", "node-1"));
        }

        // The node restarts on its spool: what is left there is offered again, and nothing is stored twice.
        using (var reopened = OpenSpool())
        {
            Assert.True(await Shipper(reopened).ShipAsync());
        }

        var recorder = _c.Grains.GetGrain<IEventRecorderGrain>(RecorderKeys.Of("run-1", "node-1"));
        var held = await _store.ReadAsync("run-1", "node-1");
        Assert.Equal(3000, await recorder.AppendAsync([.. held.Take(10)]));
        Assert.Equal(Enumerable.Range(1, 3000).Select(i => (long)i), (await _store.ReadAsync("run-1", "node-1")).Select(e => e.Stamp.Sequence));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task While_the_store_fails_events_stay_in_the_spool_and_are_held_once_when_it_answers(bool failAfterStoring)
    {
        using var spool = OpenSpool();
        await EmitAsync(spool, 2500);
        var logs = new CapturingLoggerDouble();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var shipper = Shipper(spool, new EventLogExport(loggers));
        _store.Failing = failAfterStoring ? FlakyEventStoreDouble.Mode.AfterStoring : FlakyEventStoreDouble.Mode.BeforeStoring;

        Assert.False(await shipper.ShipAsync());
        Assert.Equal(2500, spool.ReadAfter(0).Count);
        Assert.Equal(0, shipper.Shipped);

        _store.Failing = FlakyEventStoreDouble.Mode.None;
        Assert.True(await shipper.ShipAsync());
        Assert.Equal(2500, shipper.Shipped);
        Assert.Equal(Enumerable.Range(1, 2500).Select(i => (long)i), (await _store.ReadAsync("run-1", "node-1")).Select(e => e.Stamp.Sequence));

        // Exported as log records once each, also the batch whose answer was lost after storing it.
        Assert.Equal(Enumerable.Range(1, 2500).Select(i => (long)i),
            logs.Records.Where(r => r.Category == EventLogExport.Category).Select(r => (long)r.Attributes["event.sequence"]!));
    }

    [Fact]
    public async Task A_recorder_refuses_another_nodes_events_and_events_out_of_order()
    {
        using var spool = OpenSpool();
        await EmitAsync(spool, 3);
        var events = spool.ReadAfter(0);
        var recorder = _c.Grains.GetGrain<IEventRecorderGrain>(RecorderKeys.Of("run-1", "node-2"));

        var foreign = await Assert.ThrowsAsync<CoordinatorException>(() => recorder.AppendAsync(events));
        var ownRecorder = _c.Grains.GetGrain<IEventRecorderGrain>(RecorderKeys.Of("run-1", "node-1"));
        var backwards = await Assert.ThrowsAsync<CoordinatorException>(() => ownRecorder.AppendAsync([events[1], events[0]]));

        Assert.Equal(CoordinatorErrorCode.InvalidArgument, foreign.Code);
        Assert.Contains("node 'node-1'", foreign.Message, StringComparison.Ordinal);
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, backwards.Code);
        Assert.Contains("Events[1]", backwards.Message, StringComparison.Ordinal);
        Assert.Equal(0, await _store.HighWaterAsync("run-1", "node-1"));
    }

    private string SpoolDirectory => Path.Combine(_directory, "spool");

    // Small segments, so trimming has whole segments to delete.
    private EventSpool OpenSpool() => EventSpool.Open(SpoolDirectory, Serializer, segmentBytes: 16 << 10);

    private EventShipper Shipper(EventSpool spool, EventLogExport? export = null) =>
        new(spool, _c.Grains, new EventsOptions { ShipBatch = 700 }, _c.Time, NullLogger<EventShipper>.Instance, export);

    private async Task EmitAsync(EventSpool spool, int count)
    {
        await using var emitter = new EventEmitter(spool, new HybridClock(_c.Time), _c.Time, "run-1", "node-1");
        for (var i = 0; i < count; i++)
        {
            emitter.Emit(new TrainingStarted("forward"), new EventTags(OperationId: $"op-{i}"));
        }
    }
}

/// <summary>A test double of the event store: a file store that can be told to fail before or after storing an append.</summary>
internal sealed class FlakyEventStoreDouble : IEventStore
{
    public enum Mode
    {
        None,
        BeforeStoring,
        AfterStoring,
    }

    public FileEventStore Inner { get; set; } = null!;

    public volatile Mode Failing;

    public Task<long> HighWaterAsync(string runId, string nodeId) => Inner.HighWaterAsync(runId, nodeId);

    public async Task<long> AppendAsync(string runId, string nodeId, IReadOnlyList<RunEvent> events)
    {
        if (Failing == Mode.BeforeStoring)
        {
            throw new IOException("the store's disk is gone (test double)");
        }

        var held = await Inner.AppendAsync(runId, nodeId, events);
        return Failing == Mode.AfterStoring ? throw new TimeoutException("the answer was lost (test double)") : held;
    }

    public Task<IReadOnlyList<string>> RunsAsync() => Inner.RunsAsync();

    public Task<IReadOnlyList<string>> NodesAsync(string runId) => Inner.NodesAsync(runId);

    public Task<IReadOnlyList<RunEvent>> ReadAsync(string runId, string nodeId, long after = 0, int max = int.MaxValue) => Inner.ReadAsync(runId, nodeId, after, max);

    public Task<int> PruneAsync() => Inner.PruneAsync();
}
