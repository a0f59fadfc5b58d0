using Coordinator.Contracts.Events;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Events.Tests;

/// <summary>The silo's timeline API reads runs through a cache: reused while the run is unchanged, what it added merged in when it grew.</summary>
public sealed class TimelineCacheTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-timeline-cache-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_run_is_merged_once_while_unchanged_grown_when_a_node_appends_or_appears_and_the_least_used_run_leaves()
    {
        using var store = new FileEventStore(_directory, Samples.Serializer, new FakeTimeProvider(DateTimeOffset.UtcNow), TimeSpan.FromDays(7));
        await store.AppendAsync("run-1", "node-1", [.. Enumerable.Range(1, 3).Select(i => Samples.Event(i))]);
        var cache = new TimelineCache(store, maxEvents: 6);

        var first = await cache.LoadAsync("run-1");
        Assert.Same(first, await cache.LoadAsync("run-1"));

        await store.AppendAsync("run-1", "node-1", [Samples.Event(4)]);
        var grown = await cache.LoadAsync("run-1");
        Assert.NotSame(first, grown);
        Assert.Equal(4, grown.Events.Count);

        await store.AppendAsync("run-1", "node-2", [Samples.Event(1, node: "node-2")]);
        var joined = await cache.LoadAsync("run-1");
        Assert.Equal(["node-1", "node-2"], joined.Nodes);
        Assert.Same(joined, await cache.LoadAsync("run-1"));

        // Two more runs: with run-3 the cache holds 7 events, so run-1 (5 of them), used least recently, leaves; run-3 stays.
        await store.AppendAsync("run-2", "node-1", [Samples.Event(1)]);
        await store.AppendAsync("run-3", "node-1", [Samples.Event(1)]);
        await cache.LoadAsync("run-2");
        var third = await cache.LoadAsync("run-3");
        Assert.NotSame(joined, await cache.LoadAsync("run-1"));
        Assert.Same(third, await cache.LoadAsync("run-3"));

        await Assert.ThrowsAsync<KeyNotFoundException>(() => cache.LoadAsync("run-unknown"));
    }

    [Fact]
    public async Task A_grown_run_merged_in_is_the_run_read_whole_in_order_and_gaps()
    {
        using var store = new FileEventStore(_directory, Samples.Serializer, new FakeTimeProvider(DateTimeOffset.UtcNow), TimeSpan.FromDays(7));
        await store.AppendAsync("run-1", "node-1", [.. Enumerable.Range(1, 100).Select(i => At(i, "node-1", clock: i * 10))]);
        await store.AppendAsync("run-1", "node-2", [.. Enumerable.Range(1, 50).Select(i => At(i, "node-2", clock: i * 20))]);
        var cache = new TimelineCache(store);
        var first = await cache.LoadAsync("run-1");

        // node-2 lost sequence 51 and went on with a clock behind node-1's: its new events sort among node-1's old ones.
        await store.AppendAsync("run-1", "node-1", [.. Enumerable.Range(101, 50).Select(i => At(i, "node-1", clock: i * 10))]);
        await store.AppendAsync("run-1", "node-2", [.. Enumerable.Range(52, 29).Select(i => At(i, "node-2", clock: i * 5))]);
        await store.AppendAsync("run-1", "node-3", [.. Enumerable.Range(7, 10).Select(i => At(i, "node-3", clock: i * 30))]);
        var grown = await cache.LoadAsync("run-1");
        var whole = await RunTimeline.LoadAsync(store, "run-1");

        Assert.Equal(150, first.Events.Count);
        Assert.Equal(whole.Events.Select(e => e.Stamp), grown.Events.Select(e => e.Stamp));
        Assert.Equal(whole.Nodes, grown.Nodes);
        Assert.All(whole.Nodes, n => Assert.Equal(whole.Gaps[n], grown.Gaps[n]));
        Assert.Equal([new SequenceGap(51, 51)], grown.Gaps["node-2"]);
        Assert.Empty(grown.Gaps["node-3"]);
        Assert.Equal(new Dictionary<string, long> { ["node-1"] = 150, ["node-2"] = 80, ["node-3"] = 16 }, grown.Last);
    }

    private static RunEvent At(long sequence, string node, long clock)
    {
        var runEvent = Samples.Event(sequence, node: node);
        return runEvent with { Stamp = runEvent.Stamp with { Clock = new HybridTime(1_795_000_000_000 + clock, 0) } };
    }
}
