using System.Text.Json;
using Coordinator.Contracts.Events;
using Coordinator.Events.Timeline;

namespace Coordinator.Events.Tests;

/// <summary>
/// The state at a moment folded from snapshots is the state a plain fold of every event up to that moment gives, on a
/// run whose nodes' wall clocks disagree by seconds (so causal order is not time order), at moments all along it.
/// </summary>
public sealed class StateSnapshotsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 14, 2, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(StateSnapshots.DefaultInterval)]
    public void A_state_from_snapshots_is_the_state_of_every_event_up_to_the_moment(int interval)
    {
        var timeline = Run(seed: interval, operations: 300);
        var snapshots = new StateSnapshots(timeline, interval);
        var times = timeline.Events.Select(e => e.Stamp.Timestamp).ToList();
        var (first, last) = (times.Min(), times.Max());
        var random = new Random(interval);
        var moments = new List<DateTimeOffset> { DateTimeOffset.MinValue, first, last, DateTimeOffset.MaxValue };
        moments.AddRange(times.Where((_, i) => i % 17 == 0));
        moments.AddRange(Enumerable.Range(0, 50).Select(_ => first + ((last - first) * random.NextDouble())));

        foreach (var at in moments)
        {
            var plain = new StateFold();
            foreach (var runEvent in timeline.Events.Where(e => e.Stamp.Timestamp <= at))
            {
                plain.Apply(runEvent);
            }

            Assert.Equal(Json(plain.State(timeline.RunId, at)), Json(snapshots.StateAt(at)));
        }
    }

    [Theory]
    [InlineData(0.95)]
    [InlineData(0.5)]
    public void A_grown_run_keeps_the_snapshots_before_its_first_new_event_and_answers_as_if_folded_whole(double held)
    {
        // The run as first read (each node's first share of its events), asked for a state, then grown by the rest:
        // with skewed clocks the new events land among the old ones near the end, not only after them.
        const int Interval = 7;
        var whole = Run(seed: 3, operations: 300);
        var perNode = whole.Events.GroupBy(e => e.Stamp.NodeId).Select(g => g.ToList()).ToList();
        var first = RunTimeline.Merge("run-1", [.. perNode.Select(n => n.Take((int)(n.Count * held)).ToList())], Interval);
        var before = first.Snapshots.StateAt(DateTimeOffset.MaxValue);
        var grown = first.With([.. perNode.Select(n => n.Skip((int)(n.Count * held)).ToList())]);

        Assert.Equal(whole.Events, grown.Events);
        Assert.InRange(grown.Snapshots.Kept, 1, (grown.Events.Count / Interval) - 1);
        var times = grown.Events.Select(e => e.Stamp.Timestamp).ToList();
        foreach (var at in times.Where((_, i) => i % 5 == 0).Append(DateTimeOffset.MaxValue))
        {
            var plain = new StateFold();
            foreach (var runEvent in grown.Events.Where(e => e.Stamp.Timestamp <= at))
            {
                plain.Apply(runEvent);
            }

            Assert.Equal(Json(plain.State("run-1", at)), Json(grown.Snapshots.StateAt(at)));
        }

        // The run as it was still answers as it did.
        Assert.Equal(Json(before), Json(first.Snapshots.StateAt(DateTimeOffset.MaxValue)));
    }

    private static string Json(ClusterState state) => JsonSerializer.Serialize(state);

    /// <summary>
    /// A coordinator submitting operations that two trainers run (about 15 s), state changes and resource snapshots among
    /// them; trainer-2's clock is 3 s behind and trainer-1's 2 s ahead, and the hybrid clock orders each effect after its cause.
    /// </summary>
    private static RunTimeline Run(int seed, int operations)
    {
        var random = new Random(seed);
        var nodes = new[] { ("silo-1", 0), ("trainer-1", 2000), ("trainer-2", -3000) }
            .Select(n => (Id: n.Item1, Skew: n.Item2, Events: new List<RunEvent>())).ToArray();
        var clock = T0.ToUnixTimeMilliseconds();
        void Emit(int node, RunEventBody body, EventTags? tags = null)
        {
            var (id, skew, events) = nodes[node];
            clock += random.Next(0, 30);
            var wall = DateTimeOffset.FromUnixTimeMilliseconds(clock + skew + random.Next(-50, 50));
            events.Add(new RunEvent(new EventStamp("run-1", id, events.Count + 1, wall, new HybridTime(clock, 0), null, null), tags ?? new EventTags(), body));
        }

        for (var n = 0; n < nodes.Length; n++)
        {
            Emit(n, new RunStarted(n == 0 ? NodeRole.Coordinator : NodeRole.Trainer, "h", "1", T0));
        }

        for (var op = 1; op <= operations; op++)
        {
            var tags = new EventTags(ModelId: $"mdl-{op % 5}", OperationId: $"op-{op}");
            var trainer = 1 + (op % 2);
            Emit(0, new OperationSubmitted("forward_backward", op, $"key-{op}"), tags);
            Emit(trainer, new TrainingFinished("forward_backward", 1.5, TimeSpan.FromMilliseconds(4), null), tags);
            if (random.Next(10) > 0)
            {
                Emit(0, new OperationCompleted("forward_backward", random.Next(8) > 0, null, null), tags);
            }

            if (op % 7 == 0)
            {
                Emit(0, new StateChanged(EntityKind.Model, $"mdl-{op % 5}", "Placed", op % 2 == 0 ? "Loaded" : "Placed", "test"), tags);
            }

            if (op % 11 == 0)
            {
                Emit(trainer, new ResourceSnapshot(random.NextDouble(), op, null, null, op, op, 1L << 30));
            }
        }

        return RunTimeline.Merge("run-1", nodes.Select(n => (IReadOnlyList<RunEvent>)n.Events));
    }
}
