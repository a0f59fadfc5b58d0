using Coordinator.Contracts.Events;
using Coordinator.Events.Live;
using Coordinator.Events.Store;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordinator.Grains.Tests;

/// <summary>
/// A run's live feed in a real in-process cluster: the recorders publish what they store on the run's memory stream, and
/// the feed grain hands it to readers once, in order, waking those that wait, and says when a reader fell behind.
/// </summary>
public sealed class RunFeedTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 14, 2, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-feed-").FullName;
    private FlakyEventStoreDouble _store = null!;
    private CoordinatorCluster _c = null!;

    public async Task InitializeAsync()
    {
        _store = new FlakyEventStoreDouble();
        _c = await CoordinatorCluster.StartAsync(2, eventStore: _store, configureSilo: silo => silo.AddOutgoingGrainCallFilter<HeldStreamQueueDouble>());
        _store.Inner = new FileEventStore(_directory, _c.Cluster.Client.ServiceProvider.GetRequiredService<Serializer>(), _c.Time, TimeSpan.FromDays(7));
    }

    public async Task DisposeAsync()
    {
        HeldStreamQueueDouble.Release();
        await _c.DisposeAsync();
        _store.Inner.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_waiting_reader_gets_each_stored_event_once_in_the_order_stored()
    {
        var feed = _c.Grains.GetGrain<IRunFeedGrain>("run-1");
        var now = await feed.ReadAsync(null, TimeSpan.Zero);
        Assert.Empty(now.Events);

        // The reader waits (its wait is far longer than the test) and is woken by the first batch stored.
        var waiting = feed.ReadAsync(now.Next, TimeSpan.FromMinutes(5));
        await Recorder("node-a").AppendAsync([.. Events("node-a", 1, 3)]);
        var first = await waiting;
        Assert.Equal(["node-a#1", "node-a#2", "node-a#3"], Names(first));
        Assert.False(first.Gap);

        // A batch stored but whose answer was lost is published when it is sent again, and only what was not published
        // before; other nodes' batches follow in store order.
        _store.Failing = FlakyEventStoreDouble.Mode.AfterStoring;
        await Assert.ThrowsAnyAsync<Exception>(() => Recorder("node-a").AppendAsync([.. Events("node-a", 4, 5)]));
        _store.Failing = FlakyEventStoreDouble.Mode.None;
        await Recorder("node-a").AppendAsync([.. Events("node-a", 2, 5)]);
        await Recorder("node-b").AppendAsync([.. Events("node-b", 1, 1)]);
        var second = await ReadUntilAsync(feed, first.Next, 3);
        Assert.Equal(["node-a#4", "node-a#5", "node-b#1"], Names(second));
        Assert.False(second.Gap);

        // Nothing new: a read that does not wait answers at once, with the same cursor.
        var none = await feed.ReadAsync(second.Next, TimeSpan.Zero);
        Assert.Empty(none.Events);
        Assert.Equal(second.Next, none.Next);
    }

    [Fact]
    public async Task A_reader_that_fell_behind_the_window_is_told_of_the_gap_and_reads_on_from_the_oldest_kept()
    {
        var feed = _c.Grains.GetGrain<IRunFeedGrain>("run-1");
        var start = await feed.ReadAsync(null, TimeSpan.Zero);
        var total = RunFeedGrain.Window + 500;
        for (var from = 1; from <= total; from += 1000)
        {
            await Recorder("node-a").AppendAsync([.. Events("node-a", from, Math.Min(total, from + 999))]);
        }

        // Another reader keeps up until the last has been delivered (the stream delivers after the appends answer).
        var kept = await feed.ReadAsync(start.Next, TimeSpan.FromMinutes(5));
        while (kept.Events.Count == 0 || Names(kept)[^1] != $"node-a#{total}")
        {
            kept = await feed.ReadAsync(kept.Next, TimeSpan.FromMinutes(5));
        }

        var page = await feed.ReadAsync(start.Next, TimeSpan.Zero);
        Assert.True(page.Gap);
        Assert.Equal("node-a#501", Names(page)[0]);
        Assert.Equal(RunFeedGrain.PageSize, page.Events.Count);

        // Read on from there: no gap, the rest in order, up to the newest.
        var read = new List<string>(Names(page));
        while (read.Count < RunFeedGrain.Window)
        {
            page = await feed.ReadAsync(page.Next, TimeSpan.Zero);
            Assert.False(page.Gap);
            read.AddRange(Names(page));
        }

        Assert.Equal(Enumerable.Range(501, RunFeedGrain.Window).Select(i => $"node-a#{i}"), read);

        // A cursor this feed never gave (one from an earlier activation of it) is a gap too.
        Assert.True((await feed.ReadAsync(page.Next + 10, TimeSpan.Zero)).Gap);
    }

    [Fact]
    public async Task An_append_does_not_wait_on_a_publish_that_hangs_and_its_batch_comes_once_the_queue_answers()
    {
        var feed = _c.Grains.GetGrain<IRunFeedGrain>("run-1");
        var start = await feed.ReadAsync(null, TimeSpan.Zero);

        // The stream's queue does not answer (its silo died and is not declared dead yet): the append is stored and
        // answered all the same, and the feed has not had the batch.
        HeldStreamQueueDouble.Hold();
        Assert.Equal(3, await Recorder("node-a").AppendAsync([.. Events("node-a", 1, 3)]));
        Assert.Equal(3, await _store.HighWaterAsync("run-1", "node-a"));
        Assert.Empty((await feed.ReadAsync(start.Next, TimeSpan.Zero)).Events);

        // When the queue answers, the batch still goes on to the feed.
        HeldStreamQueueDouble.Release();
        Assert.Equal(["node-a#1", "node-a#2", "node-a#3"], Names(await ReadUntilAsync(feed, start.Next, 3)));
    }

    private IEventRecorderGrain Recorder(string node) => _c.Grains.GetGrain<IEventRecorderGrain>(RecorderKeys.Of("run-1", node));

    // The stream delivers after the append answers; a read that waits is woken by it.
    private static async Task<FeedPage> ReadUntilAsync(IRunFeedGrain feed, long after, int atLeast)
    {
        var page = await feed.ReadAsync(after, TimeSpan.FromMinutes(5));
        while (page.Events.Count < atLeast && !page.Gap)
        {
            var more = await feed.ReadAsync(page.Next, TimeSpan.FromMinutes(5));
            page = new FeedPage(more.Next, more.Gap, [.. page.Events, .. more.Events]);
        }

        return page;
    }

    private static string[] Names(FeedPage page) => [.. page.Events.Select(e => $"{e.Stamp.NodeId}#{e.Stamp.Sequence}")];

    private static IEnumerable<RunEvent> Events(string node, int from, int through) => Enumerable.Range(from, through - from + 1).Select(i => new RunEvent(
        new EventStamp("run-1", node, i, T0.AddMilliseconds(i), new HybridTime(T0.ToUnixTimeMilliseconds() + i, 0), null, null),
        EventTags.None, new AdapterLoaded($"mdl-{i}/1")));
}

/// <summary>
/// A test double between the recorders and the live feed's memory stream queue: while held, a batch's enqueue waits, as a
/// call to a silo that died and is not declared dead yet would.
/// </summary>
internal sealed class HeldStreamQueueDouble : IOutgoingGrainCallFilter
{
    private static TaskCompletionSource? s_held;

    public static void Hold() => s_held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public static void Release() => Interlocked.Exchange(ref s_held, null)?.TrySetResult();

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        if (context.MethodName == "Enqueue" && context.InterfaceName.Contains("MemoryStreamQueueGrain", StringComparison.Ordinal) && s_held is { } held)
        {
            await held.Task;
        }

        await context.Invoke();
    }
}
