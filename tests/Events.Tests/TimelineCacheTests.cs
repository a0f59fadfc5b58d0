using Coordinator.Contracts.Events;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Events.Tests;

/// <summary>The silo's timeline API reads runs through a cache: reused while the run is unchanged, reloaded when it grew.</summary>
public sealed class TimelineCacheTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-timeline-cache-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_run_is_merged_once_while_unchanged_reloaded_when_a_node_appends_or_appears_and_the_least_used_run_leaves()
    {
        using var store = new FileEventStore(_directory, Samples.Serializer, new FakeTimeProvider(DateTimeOffset.UtcNow), TimeSpan.FromDays(7));
        await store.AppendAsync("run-1", "node-1", [.. Enumerable.Range(1, 3).Select(i => Samples.Event(i))]);
        var cache = new TimelineCache(store, capacity: 2);

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

        // Two more runs: run-1, used least recently, leaves; run-3 stays.
        await store.AppendAsync("run-2", "node-1", [Samples.Event(1)]);
        await store.AppendAsync("run-3", "node-1", [Samples.Event(1)]);
        await cache.LoadAsync("run-2");
        var third = await cache.LoadAsync("run-3");
        Assert.NotSame(joined, await cache.LoadAsync("run-1"));
        Assert.Same(third, await cache.LoadAsync("run-3"));

        await Assert.ThrowsAsync<KeyNotFoundException>(() => cache.LoadAsync("run-unknown"));
    }
}
