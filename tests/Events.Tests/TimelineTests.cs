using System.Text.Json;
using Coordinator.Contracts.Events;
using Coordinator.Events.Timeline;

namespace Coordinator.Events.Tests;

/// <summary>
/// A run recorded by a coordinator and two trainers, one of which dies mid-operation: the merged order, the cluster's
/// state at a moment, where each operation's chain broke, and the Chrome trace export.
/// </summary>
public sealed class TimelineTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 14, 2, 0, TimeSpan.Zero);

    /// <summary>
    /// The run. trainer-2's wall clock runs 5 s behind, so only the hybrid clock (which it observed from the calls it got)
    /// puts its facts after their causes. Its sequence 3 was lost from its spool, and it went quiet while running op-4.
    /// </summary>
    private static RunTimeline Run()
    {
        var coordinator = new Node("silo-1", 0);
        var trainer1 = new Node("trainer-1", 0);
        var trainer2 = new Node("trainer-2", -5000);
        coordinator.At(0, 0, new RunStarted(NodeRole.Coordinator, "h", "1", T0));
        trainer1.At(100, 0, new RunStarted(NodeRole.Trainer, "h", "1", T0));
        trainer2.At(150, 0, new RunStarted(NodeRole.Trainer, "h", "1", T0));
        coordinator.At(1000, 0, new StateChanged(EntityKind.Model, "mdl-1", "Placed", "Loaded", null), new EventTags(ModelId: "mdl-1"));
        coordinator.At(2000, 0, new OperationSubmitted("forward_backward", 1, "key-1"), Op("op-1"));
        trainer1.At(2000, 1, new TrainingFinished("forward_backward", 2.5, TimeSpan.FromMilliseconds(40), null), Op("op-1"));
        coordinator.At(2000, 2, new OperationCompleted("forward_backward", true, null, null), Op("op-1"));
        coordinator.At(3000, 0, new OperationSubmitted("optim_step", 2, "key-2"), Op("op-2"));
        trainer1.At(3000, 1, new ResourceSnapshot(0.5, 1 << 20, null, null, 10, 20, 1 << 30));
        coordinator.At(4000, 0, new OperationSubmitted("forward", 3, "key-3"), Op("op-3", "mdl-2"));
        trainer2.At(4000, 1, new TrainingFinished("forward", 1.5, TimeSpan.FromMilliseconds(10), null), Op("op-3", "mdl-2"));
        trainer2.Skip();
        trainer2.At(4100, 0, new AdapterUnloaded("mdl-2/1"));
        coordinator.At(5000, 0, new OperationSubmitted("forward", 4, "key-4"), Op("op-4", "mdl-2"));
        trainer2.At(5000, 1, new TrainingStarted("forward"), Op("op-4", "mdl-2"));
        coordinator.At(9000, 0, new ReplicaDeclaredDead("no heartbeat since 14:02:03"), new EventTags(ReplicaId: "trainer-1"));
        coordinator.At(9000, 1, new StateChanged(EntityKind.Replica, "trainer-1", "Active", "Dead", "no heartbeat"), new EventTags(ReplicaId: "trainer-1"));
        return RunTimeline.Merge("run-1", [coordinator.Events, trainer1.Events, trainer2.Events]);
    }

    [Fact]
    public void Events_merge_in_hybrid_clock_order_whatever_the_nodes_wall_clocks_and_gaps_are_named()
    {
        var timeline = Run();
        var order = timeline.Events.Select(e => (e.Stamp.NodeId, e.Body.Type)).ToList();

        Assert.True(order.IndexOf(("silo-1", "coordinator.operation_submitted")) < order.IndexOf(("trainer-1", "training.finished")));
        var op3 = timeline.Events.Where(e => e.Tags.OperationId == "op-3").Select(e => e.Stamp.NodeId).ToList();
        Assert.Equal(["silo-1", "trainer-2"], op3);
        Assert.True(timeline.Events.Single(e => e.Tags.OperationId == "op-3" && e.Stamp.NodeId == "trainer-2").Stamp.Timestamp
            < timeline.Events.Single(e => e.Tags.OperationId == "op-3" && e.Stamp.NodeId == "silo-1").Stamp.Timestamp);
        Assert.Equal([new SequenceGap(3, 3)], timeline.Gaps["trainer-2"]);
        Assert.Empty(timeline.Gaps["silo-1"]);
        Assert.Equal(["silo-1", "trainer-1", "trainer-2"], timeline.Nodes);
    }

    [Fact]
    public void Nodes_events_in_one_list_merge_as_they_do_in_a_list_each()
    {
        var timeline = Run();
        var perNode = timeline.Events.GroupBy(e => e.Stamp.NodeId).Select(g => (IReadOnlyList<RunEvent>)[.. g]).ToList();

        // A later node first, with sequences below the other nodes' (what a live tail reads after a node joins).
        var mixed = RunTimeline.Merge("run-1", [[.. perNode.AsEnumerable().Reverse().SelectMany(e => e)]]);

        Assert.Equal(timeline.Events.Select(e => e.Stamp), mixed.Events.Select(e => e.Stamp));
        Assert.All(timeline.Nodes, n => Assert.Equal(timeline.Gaps[n], mixed.Gaps[n]));
    }

    [Fact]
    public void A_node_whose_clock_went_back_across_a_restart_is_still_merged_in_clock_order()
    {
        static RunEvent At(string node, long sequence, long clock) =>
            new(new EventStamp("run-1", node, sequence, T0.AddMilliseconds(clock), new HybridTime(T0.ToUnixTimeMilliseconds() + clock, 0), null, null),
                EventTags.None, new AdapterLoaded("a"));
        IReadOnlyList<RunEvent> restarted = [At("trainer-1", 1, 10), At("trainer-1", 2, 40), At("trainer-1", 3, 5), At("trainer-1", 4, 50)];
        IReadOnlyList<RunEvent> steady = [.. Enumerable.Range(1, 6).Select(i => At("silo-1", i, i * 9))];

        var timeline = RunTimeline.Merge("run-1", [restarted, steady]);

        var expected = restarted.Concat(steady).OrderBy(e => e.Stamp.Clock).ThenBy(e => e.Stamp.NodeId, StringComparer.Ordinal).ThenBy(e => e.Stamp.Sequence);
        Assert.Equal(expected.Select(e => (e.Stamp.NodeId, e.Stamp.Sequence)), timeline.Events.Select(e => (e.Stamp.NodeId, e.Stamp.Sequence)));
    }

    [Fact]
    public void The_state_at_a_moment_holds_what_was_recorded_by_then_and_nothing_after()
    {
        var timeline = Run();

        var before = ClusterState.Of(timeline, T0.AddMilliseconds(3500));
        var after = ClusterState.Of(timeline, T0.AddSeconds(10));

        Assert.Equal(["silo-1", "trainer-1", "trainer-2"], before.Nodes.Select(n => n.NodeId));
        Assert.Equal(NodeRole.Trainer, before.Nodes[1].Role);
        Assert.Equal(1 << 20, before.Nodes[1].Resources!.MemoryBytes);
        Assert.Equal(("mdl-1", "Loaded"), (before.Entities.Single().Id, before.Entities.Single().Status));
        Assert.Equal(["op-2"], before.InFlight.Select(o => o.OperationId));
        Assert.Equal(1, before.OperationsSucceeded);

        Assert.Equal("Dead", after.Entities.Single(e => e.Kind == EntityKind.Replica).Status);
        Assert.Equal(["op-2", "op-3", "op-4"], after.InFlight.Select(o => o.OperationId));
        Assert.Equal("trainer-2", after.InFlight[1].RanOn);
    }

    [Fact]
    public void A_chain_that_broke_says_which_link_is_missing_and_which_node_went_quiet()
    {
        var timeline = Run();

        var complete = RunCheck.Follow(timeline, "op-1");
        var neverRan = RunCheck.Follow(timeline, "op-2");
        var noOutcome = RunCheck.Follow(timeline, "op-3");
        var unfinished = RunCheck.Follow(timeline, "op-4");
        var findings = RunCheck.Findings(timeline);

        Assert.False(complete.Broken);
        Assert.Contains("ran on trainer-1", complete.Verdict, StringComparison.Ordinal);
        Assert.True(neverRan.Broken);
        Assert.Contains("no trainer recorded running it", neverRan.Verdict, StringComparison.Ordinal);
        Assert.Contains("replica trainer-1 was declared dead", neverRan.Verdict, StringComparison.Ordinal);
        Assert.Contains("trainer-1 (last event resources.snapshot", neverRan.Verdict, StringComparison.Ordinal);
        Assert.True(noOutcome.Broken);
        Assert.Contains("ran on trainer-2", noOutcome.Verdict, StringComparison.Ordinal);
        Assert.Contains("recorded no outcome", noOutcome.Verdict, StringComparison.Ordinal);
        Assert.True(unfinished.Broken);
        Assert.Contains("started on trainer-2", unfinished.Verdict, StringComparison.Ordinal);
        Assert.Contains("recorded no finish: its last event is training.started", unfinished.Verdict, StringComparison.Ordinal);
        Assert.Equal(
            [("events-lost", "trainer-2"), ("operation-unfinished", "op-2"), ("operation-unfinished", "op-3"), ("operation-unfinished", "op-4")],
            findings.Select(f => (f.Kind, f.Subject)));
    }

    [Fact]
    public void A_query_selects_by_node_window_subject_and_type()
    {
        var timeline = Run();

        Assert.Equal(3, timeline.Select(new TimelineQuery(Subject: TimelineSubject.Parse("operation=op-1"))).Count());
        Assert.Equal(2, timeline.Select(new TimelineQuery(Node: "silo-1", TypePrefix: "coordinator.state")).Count());
        Assert.Equal(["coordinator.operation_submitted"], timeline.Select(new TimelineQuery(From: T0.AddMilliseconds(2500), To: T0.AddMilliseconds(3000), Node: "silo-1")).Select(e => e.Body.Type));
        Assert.Single(timeline.Select(new TimelineQuery(Limit: 1)));
        var bad = Assert.Throws<FormatException>(() => TimelineSubject.Parse("colour=red"));
        Assert.Contains("session, model, operation", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_chrome_trace_has_a_process_per_node_a_slice_per_training_run_and_matched_operation_spans()
    {
        using var stream = new MemoryStream();
        await ChromeTrace.WriteAsync(Run(), stream);

        using var trace = JsonDocument.Parse(stream.ToArray());
        var events = trace.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.Equal(["silo-1", "trainer-1", "trainer-2"], events.Where(e => e.GetProperty("name").GetString() == "process_name").Select(e => e.GetProperty("args").GetProperty("name").GetString()));
        var slice = events.Single(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("name").GetString() == "forward_backward");
        Assert.Equal(40_000, slice.GetProperty("dur").GetDouble());
        Assert.Equal(["op-1"], events.Where(e => e.GetProperty("ph").GetString() == "e").Select(e => e.GetProperty("id").GetString()));
        Assert.Equal(4, events.Count(e => e.GetProperty("ph").GetString() == "b"));
        Assert.Equal(16, events.Count(e => e.GetProperty("ph").GetString() == "i"));
    }

    private static EventTags Op(string id, string model = "mdl-1") => new(ModelId: model, OperationId: id);

    /// <summary>A node's recorder in the test: its own sequence, a wall clock off by <paramref name="skewMs"/>, a hybrid clock.</summary>
    private sealed class Node(string id, int skewMs)
    {
        private long _sequence;

        public List<RunEvent> Events { get; } = [];

        /// <summary>Records a fact at true time T0 + <paramref name="ms"/>, whose hybrid clock reads (T0 + ms, counter).</summary>
        public void At(int ms, int counter, RunEventBody body, EventTags? tags = null) => Events.Add(new RunEvent(
            new EventStamp("run-1", id, ++_sequence, T0.AddMilliseconds(ms + skewMs), new HybridTime(T0.ToUnixTimeMilliseconds() + ms, counter), null, null),
            tags ?? EventTags.None,
            body));

        public void Skip() => _sequence++;
    }
}
