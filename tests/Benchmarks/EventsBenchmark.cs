using System.Diagnostics;
using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Emitting;
using Coordinator.Events.Spool;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Coordinator.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordinator.Benchmarks;

/// <summary>
/// Run events: the cost of one emit on the emitting thread, events per second into each store and bytes per stored
/// event, and the timeline's state-at-T and follow queries on a large run.
/// </summary>
internal static class EventsBenchmark
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    public static async Task RunAsync(bool quick)
    {
        var serializer = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(RunEvent).Assembly)).BuildServiceProvider().GetRequiredService<Serializer>();
        var directory = Directory.CreateTempSubdirectory("coordinator-events-bench-").FullName;
        try
        {
            Console.WriteLine($"Run events ({Environment.ProcessorCount} cores, {(quick ? "quick" : "full")} run)");
            await EmitAsync(Path.Combine(directory, "spool"), serializer, quick ? 100_000 : 1_000_000);
            var events = Operations(quick ? 100_000 : 1_000_000);
            await StoreAsync("files", new FileEventStore(Path.Combine(directory, "store"), serializer, TimeProvider.System, TimeSpan.FromDays(7)), events,
                () => Task.FromResult(Directory.EnumerateFiles(Path.Combine(directory, "store"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)));
            if (Executables.Find("redis-server") is not null)
            {
                await using var redis = await RedisServer.StartAsync();
                var store = new RedisEventStore(redis.Connection, serializer, TimeProvider.System, TimeSpan.FromDays(7), "bench");
                await StoreAsync("redis", store, events, () => RedisBytes(redis, events));
            }
            else
            {
                Console.WriteLine("  redis store: skipped (no redis-server on PATH)");
            }

            Timeline(events);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Emits from one thread, timing blocks of 100 emits (a timestamp per emit would cost as much as the emit).</summary>
    private static async Task EmitAsync(string directory, Serializer serializer, int count)
    {
        using var spool = EventSpool.Open(directory, serializer);
        await using var emitter = new EventEmitter(spool, new HybridClock(TimeProvider.System), TimeProvider.System, "bench", "node-1");
        var body = new TrainingStarted("forward_backward");
        var tags = new EventTags(ModelId: "mdl-1", OperationId: "op-mdl-1-1");
        for (var i = 0; i < 10_000; i++)
        {
            emitter.Emit(body, tags);
        }

        const int Block = 100;
        var perEmit = new double[count / Block];
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var b = 0; b < perEmit.Length; b++)
        {
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < Block; i++)
            {
                emitter.Emit(body, tags);
            }

            perEmit[b] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / Block;
        }

        var bytesPerEmit = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)(perEmit.Length * Block);
        Array.Sort(perEmit);
        Console.WriteLine($"  emit (one thread, {count:N0} events, blocks of {Block}): p50 {perEmit[perEmit.Length / 2]:F0} ns, p99 {perEmit[perEmit.Length * 99 / 100]:F0} ns per emit; {bytesPerEmit:F0} bytes allocated per emit on the emitting thread");
    }

    /// <summary>Appends in batches of 1,000 (the shipper's default) and reports events per second and bytes per stored event.</summary>
    private static async Task StoreAsync(string name, IEventStore store, List<RunEvent> events, Func<Task<long>> bytes)
    {
        var clock = Stopwatch.StartNew();
        foreach (var node in events.GroupBy(e => e.Stamp.NodeId))
        {
            foreach (var batch in node.Chunk(1000))
            {
                await store.AppendAsync("bench", node.Key, batch);
            }
        }

        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  {name} store: {events.Count / seconds:N0} events/s appended in batches of 1,000; {await bytes() / (double)events.Count:F1} bytes per stored event");

        // What the silo's API does for a state query: load the run through its cache, then fold to the moment.
        var cache = new TimelineCache(store);
        var middle = events[events.Count / 2].Stamp.Timestamp;
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        clock.Restart();
        ClusterState.Of(await cache.LoadAsync("bench"), middle);
        var first = clock.Elapsed.TotalMilliseconds;
        var held = (GC.GetTotalMemory(forceFullCollection: true) - heap) / (double)events.Count;
        var again = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            clock.Restart();
            ClusterState.Of(await cache.LoadAsync("bench"), middle);
            again.Add(clock.Elapsed.TotalMilliseconds);
        }

        // A live run: one node appends a batch, and the next query reads and merges what it added.
        var growing = events[^1].Stamp.NodeId;
        var grown = events.Where(e => e.Stamp.NodeId == growing).ToList();
        var more = grown.TakeLast(1000).Select((e, i) => e with
        {
            Stamp = e.Stamp with { Sequence = grown[^1].Stamp.Sequence + 1 + i, Timestamp = e.Stamp.Timestamp.AddHours(1), Clock = new HybridTime(e.Stamp.Clock.WallMilliseconds + 3_600_000, 0) },
        }).ToList();
        await store.AppendAsync("bench", growing, more);
        clock.Restart();
        ClusterState.Of(await cache.LoadAsync("bench"), middle);
        var extended = clock.Elapsed.TotalMilliseconds;
        Console.WriteLine($"  {name} store, a state query as the silo's API answers it: first {first:F0} ms (reading and merging the run; {held:F0} bytes an event held in memory), then {again.Order().ElementAt(2):F0} ms (median of 5; the run is cached while it does not grow), {extended:F0} ms after a node appended 1,000 events (what it added is read and merged in)");
        (store as IDisposable)?.Dispose();
    }

    private static async Task<long> RedisBytes(RedisServer redis, List<RunEvent> events)
    {
        var database = redis.Connection.GetDatabase();
        long total = 0;
        foreach (var node in events.Select(e => e.Stamp.NodeId).Distinct())
        {
            total += (long)(await database.ExecuteAsync("MEMORY", "USAGE", $"coordinator/bench/events/{{bench}}:{node}", "SAMPLES", "0"));
        }

        return total;
    }

    /// <summary>Merge, the state at the middle of the run, and following one operation, on the whole run.</summary>
    private static void Timeline(List<RunEvent> events)
    {
        var clock = Stopwatch.StartNew();
        var timeline = RunTimeline.Merge("bench", events.GroupBy(e => e.Stamp.NodeId).Select(g => (IReadOnlyList<RunEvent>)[.. g]));
        var merge = clock.Elapsed.TotalMilliseconds;
        var middle = timeline.Events[timeline.Events.Count / 2].Stamp.Timestamp;
        clock.Restart();
        ClusterState.Of(timeline, middle);
        var snapshots = clock.Elapsed.TotalMilliseconds;
        var state = Timed(() => ClusterState.Of(timeline, middle));
        var random = new Random(3);
        var (first, last) = (timeline.Events[0].Stamp.Timestamp, timeline.Events[^1].Stamp.Timestamp);
        var anywhere = Timed(() => ClusterState.Of(timeline, first + ((last - first) * random.NextDouble())));
        var follow = Timed(() => RunCheck.Follow(timeline, "op-mdl-1-1000"));
        Console.WriteLine($"  timeline of {events.Count:N0} events: merge {merge:F0} ms; first state query {snapshots:F0} ms (folds the run once, keeping snapshots along it); then state at the middle {state:F0} ms, at a random moment {anywhere:F0} ms; follow one operation {follow:F0} ms (medians of 5)");
    }

    private static double Timed(Action query)
    {
        var times = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            query();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        times.Sort();
        return times[2];
    }

    /// <summary>
    /// A run of operations as the cluster records them: submitted and completed on a silo, finished on a trainer, a state
    /// change now and then; each operation a trace of its own and each event a span of its own (random ids, as a real
    /// tracer makes them, so a store cannot shrink them by their repeating).
    /// </summary>
    private static List<RunEvent> Operations(int count)
    {
        var events = new List<RunEvent>(count);
        var (silo, trainer) = (0L, 0L);
        var random = new Random(7);
        string Id(int bytes)
        {
            var id = new byte[bytes];
            random.NextBytes(id);
            return Convert.ToHexStringLower(id);
        }

        for (var op = 1; events.Count < count; op++)
        {
            var at = T0.AddMilliseconds(op * 10);
            var tags = new EventTags(SessionId: "ses-1", ModelId: "mdl-1", OperationId: $"op-mdl-1-{op}", ReplicaId: "trainer-1");
            var trace = Id(16);
            RunEvent Event(string node, long sequence, int offset, RunEventBody body) =>
                new(new EventStamp("bench", node, sequence, at.AddMilliseconds(offset), new HybridTime(at.ToUnixTimeMilliseconds() + offset, 0), trace, Id(8)), tags, body);
            events.Add(Event("silo-1", ++silo, 0, new OperationSubmitted("forward_backward", op, $"key-{op}")));
            events.Add(Event("trainer-1", ++trainer, 5, new TrainingFinished("forward_backward", 1.5, TimeSpan.FromMilliseconds(4), null)));
            events.Add(Event("silo-1", ++silo, 6, new OperationCompleted("forward_backward", true, null, null)));
            if (op % 100 == 0)
            {
                events.Add(Event("silo-1", ++silo, 7, new StateChanged(EntityKind.Model, "mdl-1", "Loaded", "Loaded", "checkpoint")));
            }
        }

        return events;
    }
}
