using Coordinator.Contracts.Events;
using Coordinator.Events.Spool;
using Coordinator.Events.Store;
using Coordinator.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Events.Tests;

/// <summary>
/// What every event store must do, run against the segment-file store and against a real redis-server on loopback:
/// appends idempotent by (node, sequence), reads in order and in pages, runs and nodes listed, retention.
/// </summary>
public abstract class EventStoreContract : IAsyncLifetime
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));

    protected IEventStore Store { get; set; } = null!;

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    [Fact]
    public async Task A_batch_sent_again_is_held_once_and_the_high_water_mark_follows_the_last_event()
    {
        var batch = Enumerable.Range(1, 50).Select(i => Samples.Event(i)).ToList();
        Assert.Equal(0, await Store.HighWaterAsync("run-1", "node-1"));

        Assert.Equal(50, await Store.AppendAsync("run-1", "node-1", batch));
        Assert.Equal(50, await Store.AppendAsync("run-1", "node-1", batch));
        Assert.Equal(80, await Store.AppendAsync("run-1", "node-1", [.. Enumerable.Range(40, 41).Select(i => Samples.Event(i))]));

        var held = await Store.ReadAsync("run-1", "node-1");
        Assert.Equal(Enumerable.Range(1, 80).Select(i => (long)i), held.Select(e => e.Stamp.Sequence));
        Assert.Equal(Samples.Event(3), held[2]);
        Assert.Equal(80, await Store.HighWaterAsync("run-1", "node-1"));
    }

    [Fact]
    public async Task A_node_starts_where_its_run_began_and_reads_page_through_thousands_of_events()
    {
        var events = Enumerable.Range(1001, 2500).Select(i => Samples.Event(i, node: "node-2")).ToList();
        foreach (var chunk in events.Chunk(700))
        {
            await Store.AppendAsync("run-1", "node-2", chunk);
        }

        Assert.Equal(Enumerable.Range(1001, 2500).Select(i => (long)i), (await Store.ReadAsync("run-1", "node-2")).Select(e => e.Stamp.Sequence));
        Assert.Equal(Enumerable.Range(2001, 10).Select(i => (long)i), (await Store.ReadAsync("run-1", "node-2", after: 2000, max: 10)).Select(e => e.Stamp.Sequence));
        Assert.Empty(await Store.ReadAsync("run-1", "node-9"));
    }

    [Fact]
    public async Task Runs_and_their_nodes_are_listed()
    {
        await Store.AppendAsync("run-a", "node-1", [Samples.Event(1)]);
        await Store.AppendAsync("run-a", "node-2", [Samples.Event(1, node: "node-2")]);
        Time.Advance(TimeSpan.FromMinutes(1));
        await Store.AppendAsync("run-b", "node-1", [Samples.Event(1)]);

        Assert.Equal(["node-1", "node-2"], await Store.NodesAsync("run-a"));
        Assert.Equal(["run-b", "run-a"], (await Store.RunsAsync()).Where(r => r.StartsWith("run-", StringComparison.Ordinal) && r.Length == 5));
    }
}

/// <summary>The segment-file store of the embedded default.</summary>
public sealed class FileEventStoreTests : EventStoreContract
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-store-").FullName;

    public override Task InitializeAsync()
    {
        Store = new FileEventStore(_directory, Samples.Serializer, Time, TimeSpan.FromDays(7));
        return Task.CompletedTask;
    }

    public override Task DisposeAsync()
    {
        ((FileEventStore)Store).Dispose();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Read_only_it_sees_what_a_writer_holds_and_leaves_a_torn_tail_on_disk()
    {
        await Store.AppendAsync("run-1", "node-1", [.. Enumerable.Range(1, 5).Select(i => Samples.Event(i))]);
        var segment = Directory.GetFiles(Path.Combine(_directory, "run-1", "node-1")).Single();
        await File.AppendAllBytesAsync(segment, [0x45, 0x56, 0x54, 0x31, 0x40]); // a record cut short by a writer mid-append
        var length = new FileInfo(segment).Length;

        using var reader = new FileEventStore(_directory, Samples.Serializer, Time, TimeSpan.FromDays(7), readOnly: true);
        Assert.Equal(5, (await reader.ReadAsync("run-1", "node-1")).Count);
        Assert.Equal(5, await reader.HighWaterAsync("run-1", "node-1"));
        Assert.Equal(0, await reader.PruneAsync());
        Assert.Equal(length, new FileInfo(segment).Length);
    }

    [Fact]
    public async Task Runs_last_written_before_the_retention_are_pruned()
    {
        await Store.AppendAsync("run-old", "node-1", [Samples.Event(1)]);
        await Store.AppendAsync("run-new", "node-1", [Samples.Event(1)]);
        foreach (var file in Directory.GetFiles(Path.Combine(_directory, "run-old"), "*", SearchOption.AllDirectories))
        {
            File.SetLastWriteTimeUtc(file, Time.GetUtcNow().UtcDateTime - TimeSpan.FromDays(8));
        }

        Assert.Equal(1, await Store.PruneAsync());
        Assert.Equal(["run-new"], await Store.RunsAsync());
    }

    [Theory]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("")]
    public async Task An_id_that_cannot_name_a_directory_is_refused(string id)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(id, "node-1", [Samples.Event(1)]));
        Assert.Contains("run id", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>The Redis-streams store of a cluster, on a real redis-server.</summary>
public sealed class RedisEventStoreTests : EventStoreContract
{
    private RedisServer _redis = null!;

    public override async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        Store = new RedisEventStore(_redis.Connection, Samples.Serializer, Time, TimeSpan.FromDays(7), "cluster-1");
    }

    public override async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task Entries_of_earlier_versions_one_event_each_are_read_beside_blocks()
    {
        // Entries as earlier versions wrote them: field e, the event in Orleans' binary format; field c, in its compact form.
        var database = _redis.Connection.GetDatabase();
        var key = "coordinator/cluster-1/events/{run-1}:node-1";
        await database.StreamAddAsync(key, "e", Samples.Serializer.SerializeToArray(Samples.Event(1)), "1-1");
        await database.StreamAddAsync(key, "c", EventCodec.Encode(Samples.Event(2), Samples.Serializer), "2-1");
        Assert.Equal(5, await Store.AppendAsync("run-1", "node-1", [Samples.Event(2), Samples.Event(3), Samples.Event(4), Samples.Event(5)]));

        var read = await Store.ReadAsync("run-1", "node-1");

        Assert.Equal(Enumerable.Range(1, 5).Select(i => Samples.Event(i).Stamp), read.Select(e => e.Stamp));
        Assert.Equal([Samples.Event(4).Stamp], (await Store.ReadAsync("run-1", "node-1", after: 3, max: 1)).Select(e => e.Stamp));
        var block = Assert.Single(await database.StreamRangeAsync(key, "3-0", "+"));
        Assert.Equal("5-1", block.Id.ToString());
        Assert.False(block["b"].IsNull);
    }

    [Fact]
    public async Task A_run_expires_after_the_retention_and_leaves_the_index_when_pruned()
    {
        await Store.AppendAsync("run-1", "node-1", [Samples.Event(1)]);
        var ttl = await _redis.Connection.GetDatabase().KeyTimeToLiveAsync("coordinator/cluster-1/events/{run-1}:node-1");
        Assert.InRange(ttl!.Value, TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1), TimeSpan.FromDays(7));

        Time.Advance(TimeSpan.FromDays(8));
        Assert.Equal(1, await Store.PruneAsync());
        Assert.Empty(await Store.RunsAsync());
    }
}
