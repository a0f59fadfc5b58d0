using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// Where a run's chains of facts broke. An operation's chain is: the coordinator records it submitted, a trainer
/// records it finished, the coordinator records its outcome. A chain that stops names its last link, the node that
/// should have recorded the next, and what that node recorded last (a node whose events stop early was likely gone).
/// Also: events a node lost (gaps in its sequence) and nodes that never recorded their start.
/// </summary>
public static class RunCheck
{
    /// <summary>
    /// Per node: its events, and how far its wall clock ran behind the cluster's, as seen when calls from nodes ahead of
    /// it moved its hybrid clock past its wall time (0 when never).
    /// </summary>
    public static IReadOnlyList<NodeSummary> Nodes(RunTimeline timeline)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        return [.. timeline.Events.GroupBy(e => e.Stamp.NodeId, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(node => new NodeSummary(
            node.Key,
            node.Count(),
            node.Min(e => e.Stamp.Sequence),
            node.Max(e => e.Stamp.Sequence),
            TimeSpan.FromMilliseconds(Math.Max(0, node.Max(e => e.Stamp.Clock.WallMilliseconds - e.Stamp.Timestamp.ToUnixTimeMilliseconds())))))];
    }

    /// <summary>Every finding of the run, in the order of the facts they are about.</summary>
    public static IReadOnlyList<Finding> Findings(RunTimeline timeline)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        var findings = new List<Finding>();
        foreach (var (node, gaps) in timeline.Gaps.OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            findings.AddRange(gaps.Select(gap => new Finding("events-lost", node,
                $"Node {node} is missing events {gap.From}..{gap.To} ({gap.To - gap.From + 1}): its spool lost them before they were shipped.")));
        }

        var started = timeline.Events.Where(e => e.Body is RunStarted).Select(e => e.Stamp.NodeId).ToHashSet(StringComparer.Ordinal);
        findings.AddRange(timeline.Nodes.Where(n => !started.Contains(n)).Select(node => new Finding("no-start", node,
            $"Node {node} recorded no run.started: its first events were trimmed or lost.")));

        // One pass groups every operation's facts; an operation is checked only when it has a submission.
        var operations = timeline.Events.Where(e => e.Tags.OperationId is not null).GroupBy(e => e.Tags.OperationId!, StringComparer.Ordinal);
        foreach (var facts in operations.Where(g => g.Any(e => e.Body is OperationSubmitted)))
        {
            if (Chain(timeline, facts.Key, [.. facts]) is { Broken: true } chain)
            {
                findings.Add(new Finding("operation-unfinished", facts.Key, chain.Verdict));
            }
        }

        return findings;
    }

    /// <summary>The chain of one operation: its links as recorded, and the verdict.</summary>
    public static OperationChain Follow(RunTimeline timeline, string operationId)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        return Chain(timeline, operationId, [.. timeline.Events.Where(e => e.Tags.OperationId == operationId)]);
    }

    private static OperationChain Chain(RunTimeline timeline, string operationId, List<RunEvent> facts)
    {
        var submitted = facts.FirstOrDefault(e => e.Body is OperationSubmitted);
        var started = facts.FirstOrDefault(e => e.Body is TrainingStarted);
        var ran = facts.FirstOrDefault(e => e.Body is TrainingFinished);
        var completed = facts.FirstOrDefault(e => e.Body is OperationCompleted);
        string verdict;
        var broken = true;
        if (submitted is null)
        {
            verdict = facts.Count == 0
                ? $"No node recorded operation {operationId}."
                : $"Operation {operationId} has no recorded submission: the coordinator's events of it were lost or trimmed.";
        }
        else if (completed is { Body: OperationCompleted outcome })
        {
            broken = false;
            verdict = outcome.Succeeded
                ? $"Operation {operationId} completed: submitted on {submitted.Stamp.NodeId}, {(ran is null ? "no trainer recorded running it" : $"ran on {ran.Stamp.NodeId}")}, outcome recorded {Elapsed(submitted, completed)} after submission."
                : $"Operation {operationId} failed ({outcome.ErrorCode}): {outcome.Error}";
        }
        else if (ran is null && started is not null)
        {
            var last = Last(timeline, started.Stamp.NodeId);
            verdict = $"Operation {operationId} was submitted on {submitted.Stamp.NodeId} at {Time(submitted)} and started on {started.Stamp.NodeId} at {Time(started)}, "
                + $"which recorded no finish: its last event is {last.Body.Type} at {Time(last)}.";
        }
        else if (ran is null)
        {
            var dead = timeline.Events.FirstOrDefault(e => e.Body is ReplicaDeclaredDead && e.Stamp.Timestamp >= submitted.Stamp.Timestamp);
            verdict = $"Operation {operationId} was submitted on {submitted.Stamp.NodeId} at {Time(submitted)}, and no trainer recorded running it"
                + (dead is null ? "." : $"; replica {dead.Tags.ReplicaId} was declared dead at {Time(dead)} ({((ReplicaDeclaredDead)dead.Body).Reason}).")
                + LastWords(timeline, submitted);
        }
        else
        {
            verdict = $"Operation {operationId} ran on {ran.Stamp.NodeId} (finished at {Time(ran)}), but {submitted.Stamp.NodeId}, where it was submitted, recorded no outcome"
                + $"; {submitted.Stamp.NodeId}'s last event is at {Time(Last(timeline, submitted.Stamp.NodeId))}.";
        }

        return new OperationChain(operationId, facts, broken, verdict);
    }

    private static string LastWords(RunTimeline timeline, RunEvent submitted)
    {
        // The trainers' last words: a trainer that went quiet after the submission is where to look.
        var quiet = timeline.Events
            .Where(e => e.Body is RunStarted { Role: NodeRole.Trainer })
            .Select(e => Last(timeline, e.Stamp.NodeId))
            .Where(last => last.Stamp.Timestamp < submitted.Stamp.Timestamp + TimeSpan.FromSeconds(1))
            .Select(last => $"{last.Stamp.NodeId} (last event {last.Body.Type} at {Time(last)})")
            .ToList();
        return quiet.Count == 0 ? "" : $" Trainers silent since about then: {string.Join(", ", quiet)}.";
    }

    private static RunEvent Last(RunTimeline timeline, string node) => timeline.Events.Last(e => e.Stamp.NodeId == node);

    private static string Time(RunEvent runEvent) => runEvent.Stamp.Timestamp.UtcDateTime.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);

    private static string Elapsed(RunEvent from, RunEvent to) => $"{(to.Stamp.Timestamp - from.Stamp.Timestamp).TotalMilliseconds:F1} ms";
}

/// <summary>Something a check found: its kind (<c>events-lost</c>, <c>no-start</c>, <c>operation-unfinished</c>), what it is about, and what it means.</summary>
public sealed record Finding(string Kind, string Subject, string Message);

/// <summary>A node's part of a run: its events, the sequences they span, and the most its clock was seen behind.</summary>
public sealed record NodeSummary(string NodeId, int Events, long FirstSequence, long LastSequence, TimeSpan ClockBehind);

/// <summary>One operation's recorded facts, in causal order, whether the chain broke, and a sentence saying where.</summary>
public sealed record OperationChain(string OperationId, IReadOnlyList<RunEvent> Facts, bool Broken, string Verdict);
