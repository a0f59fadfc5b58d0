using System.Diagnostics;
using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Emitting;
using Coordinator.Events.Spool;

namespace Coordinator.Events.Tests;

/// <summary>Emitting only enqueues; the writer gives a node's events a gapless sequence in clock order.</summary>
public sealed class EventEmitterTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-emitter-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Events_emitted_from_many_threads_are_spooled_gapless_in_clock_order_with_their_trace()
    {
        using var spool = EventSpool.Open(_directory, Samples.Serializer);
        var emitter = new EventEmitter(spool, new HybridClock(TimeProvider.System), TimeProvider.System, "run-1", "node-1");
        using var source = new ActivitySource("emitter-test");
        using var listener = new ActivityListener { ShouldListenTo = s => s == source, Sample = (ref _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);
        string? traceId = null;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(() =>
        {
            using var activity = thread == 0 ? source.StartActivity("emitting") : null;
            traceId ??= activity?.TraceId.ToHexString();
            for (var i = 0; i < 500; i++)
            {
                emitter.Emit(new TrainingStarted("forward"), new EventTags(OperationId: $"op-{thread}-{i}"));
            }
        })));
        await emitter.DisposeAsync();

        var events = spool.ReadAfter(0).ToList();
        Assert.Equal(Enumerable.Range(1, 4000).Select(i => (long)i), events.Select(e => e.Stamp.Sequence));
        Assert.All(events.Zip(events.Skip(1)), pair => Assert.True(pair.First.Stamp.Clock < pair.Second.Stamp.Clock));
        Assert.All(events, e => Assert.Equal(("run-1", "node-1"), (e.Stamp.RunId, e.Stamp.NodeId)));
        Assert.Equal(500, events.Count(e => e.Stamp.TraceId == traceId));
        Assert.Equal(4000, events.Select(e => e.Tags.OperationId).Distinct().Count());
        Assert.Equal(3500, events.Count(e => e.Stamp.TraceId is null && e.Stamp.SpanId is null));

        // A fact emitted after the emitter stopped is not written, and is counted.
        emitter.Emit(new TrainingStarted("forward"));
        Assert.Equal(1, emitter.Lost);
        Assert.Equal(4000, spool.LastSequence);
    }

    [Fact]
    public async Task The_writer_wakes_for_each_burst_after_running_idle_and_an_unrecorded_trace_is_not_stamped()
    {
        using var spool = EventSpool.Open(_directory, Samples.Serializer);
        await using var emitter = new EventEmitter(spool, new HybridClock(TimeProvider.System), TimeProvider.System, "run-1", "node-1");
        using var source = new ActivitySource("emitter-idle-test");
        using var listener = new ActivityListener { ShouldListenTo = s => s == source, Sample = (ref _) => ActivitySamplingResult.PropagationData };
        ActivitySource.AddActivityListener(listener);

        // Each burst is written while the emitter stays open: the writer drained the last one and waits, so the burst must wake it.
        for (var burst = 1; burst <= 20; burst++)
        {
            using (source.StartActivity("unsampled"))
            {
                for (var i = 0; i < burst; i++)
                {
                    emitter.Emit(new TrainingStarted("forward"));
                }
            }

            var expected = burst * (burst + 1) / 2;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (spool.LastSequence < expected)
            {
                Assert.True(DateTime.UtcNow < deadline, $"burst {burst} was not written: the spool holds {spool.LastSequence} of {expected}");
                await Task.Yield();
            }
        }

        Assert.All(spool.ReadAfter(0), e => Assert.Null(e.Stamp.TraceId));
        Assert.Equal(0, emitter.Lost);
    }

    [Fact]
    public async Task A_new_emitter_on_a_spool_continues_its_sequence()
    {
        using (var spool = EventSpool.Open(_directory, Samples.Serializer))
        {
            await using var emitter = new EventEmitter(spool, new HybridClock(TimeProvider.System), TimeProvider.System, "run-1", "node-1");
            emitter.Emit(new RunStarted(NodeRole.Trainer, "hash", "1.0", DateTimeOffset.UtcNow));
        }

        using var reopened = EventSpool.Open(_directory, Samples.Serializer);
        await using (var emitter = new EventEmitter(reopened, new HybridClock(TimeProvider.System), TimeProvider.System, "run-1", "node-1"))
        {
            emitter.Emit(new TrainingStarted("forward"));
        }

        Assert.Equal([1L, 2], reopened.ReadAfter(0).Select(e => e.Stamp.Sequence));
    }

    [Fact]
    public async Task A_transfers_progress_is_kept_at_most_every_5_s_with_its_first_and_last_and_transfers_apart()
    {
        using var spool = EventSpool.Open(_directory, Samples.Serializer);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
        var emitter = new EventEmitter(spool, new HybridClock(time), time, "run-1", "node-1");
        var a = new EventTags(TransferId: "up-a");
        var b = new EventTags(TransferId: "down-b");

        emitter.Emit(new TransferStarted(TransferKind.Checkpoint, TransferDirection.Upload, null, 1000), a);
        emitter.Emit(new TransferStarted(TransferKind.Blob, TransferDirection.Download, "node-5", null), b);
        foreach (var ms in (int[])[0, 1000, 4999, 5000, 6000, 10_500])
        {
            time.SetUtcNow(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero).AddMilliseconds(ms));
            emitter.Emit(new TransferProgressed(ms / 20, 1000), a);
            emitter.Emit(new TransferProgressed(ms, null), b);
        }

        // Within 5 s of a kept one, and the last: a's 1000 of 1000 bytes.
        time.Advance(TimeSpan.FromMilliseconds(100));
        emitter.Emit(new TransferProgressed(1000, 1000), a);
        emitter.Emit(new TransferCompleted(1000, true, null), a);
        emitter.Emit(new TransferProgressed(20_000, null), new EventTags());
        await emitter.DisposeAsync();

        string Line(RunEvent e) => e.Body switch
        {
            TransferProgressed p => $"{e.Tags.TransferId} {p.Bytes}",
            _ => $"{e.Tags.TransferId} {e.Body.Type}",
        };
        Assert.Equal(
            [
                "up-a transfer.started", "down-b transfer.started",
                "up-a 0", "down-b 0", // the first
                "up-a 250", "down-b 5000", // 5 s after the first
                "up-a 525", "down-b 10500", // 5.5 s after that
                "up-a 1000", "up-a transfer.completed", // the last, 0.1 s after
                " 20000", // no transfer id: kept
            ],
            spool.ReadAfter(0).Select(Line));
        Assert.Equal(6, emitter.ThrottledProgress);
    }
}
