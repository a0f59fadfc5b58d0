using System.CommandLine;
using System.Text.Json;
using Coordinator.Client.Hosting;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Coordinator.Hosting.Cli;
using Coordinator.Silo.Configuration;
using Coordinator.Silo.Persistence;
using StackExchange.Redis;

namespace Coordinator.Silo.Timeline;

/// <summary>
/// <c>timeline runs|show|follow|state|check|tail|export</c>: the run timeline from the event store this silo's
/// configuration names (Redis with <c>--redis</c>, else the files in <c>--events-dir</c> / <c>Events:StoreDirectory</c>),
/// beside a running cluster or after.
/// </summary>
internal static class TimelineVerbs
{
    public static Command Create(Func<ParseResult, SiloSettings?> load, TextWriter stdout, TextWriter stderr)
    {
        var run = new Option<string?>("--run") { Description = "The run (default: the newest).", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Write JSON instead of text.", Recursive = true };
        var eventsDir = new Option<string?>("--events-dir") { Description = "The event store's directory (Events:StoreDirectory) when the store is files.", Recursive = true };
        SiloSettings? LoadWithStore(ParseResult parse)
        {
            var settings = load(parse);
            if (settings is not null && parse.GetValue(eventsDir) is { Length: > 0 } directory)
            {
                settings.Events.StoreDirectory = directory;
            }

            return settings;
        }

        var node = new Option<string?>("--node") { Description = "Only this node's events." };
        var from = new Option<string?>("--from") { Description = "From this moment: ISO 8601, a UTC time of day (14:02:07), or +90s after the run's start." };
        var to = new Option<string?>("--to") { Description = "Up to this moment (same forms as --from)." };
        var follow = new Option<string?>("--follow") { Description = "Only events about one thing: tag=value (session, model, operation, replica, batch, blob, transfer)." };
        var type = new Option<string?>("--type") { Description = "Only events whose type starts with this (training., coordinator.state_changed, ...)." };
        var limit = new Option<int?>("--limit") { Description = "At most this many events." };
        var at = new Option<string>("--at") { Description = "The moment (same forms as --from).", Required = true };
        var operation = new Option<string?>("--operation") { Description = "Follow one operation's chain and say where it broke." };
        var output = new Option<FileInfo>("--out") { Description = "The Chrome trace file to write (opens in ui.perfetto.dev).", Required = true };
        var format = new Option<string>("--format") { Description = "The export format: chrome (trace event JSON).", DefaultValueFactory = _ => "chrome" };
        var subjects = TimelineSubject.Tags.Select(tag => new Option<string?>($"--{tag}") { Description = $"Follow this {tag} id." }).ToList();
        var count = new Option<int?>("--count") { Description = "Stop after this many new events (default: until Ctrl-C)." };

        var runs = new Command("runs", "List the runs the event store holds, newest first.");
        runs.SetAction((parse, _) => WithStoreAsync(parse, LoadWithStore, stderr, async reader =>
        {
            var held = await reader.RunsAsync();
            await Write(parse, json, stdout, held, () => string.Join(Environment.NewLine, held));
            return ExitCodes.Ok;
        }));

        var show = new Command("show", "Print a run's events from every node, merged in causal order.") { node, from, to, follow, type, limit };
        show.SetAction((parse, _) => WithTimelineAsync(parse, LoadWithStore, run, stderr, async timeline =>
        {
            if (parse.GetValue(limit) is <= 0)
            {
                throw new TimelineInputException("--limit", $"must be positive (got {parse.GetValue(limit)}).");
            }

            var query = new TimelineQuery(
                parse.GetValue(node),
                parse.GetValue(from) is { } f ? TimelineReader.ParseMoment(f, timeline, "--from") : null,
                parse.GetValue(to) is { } t ? TimelineReader.ParseMoment(t, timeline, "--to") : null,
                TimelineReader.ParseSubject(parse.GetValue(follow), "--follow"),
                parse.GetValue(type),
                parse.GetValue(limit));
            var views = timeline.Select(query).Select(EventView.Of).ToList();
            await Write(parse, json, stdout, views, () => string.Join(Environment.NewLine, views.Select(v => v.ToLine())));
            return ExitCodes.Ok;
        }));

        var follow1 = new Command("follow", "Print every node's events about one thing, in causal order; for an operation, also where its chain broke (exit 1).");
        foreach (var subject in subjects)
        {
            follow1.Options.Add(subject);
        }

        follow1.SetAction((parse, _) => WithTimelineAsync(parse, LoadWithStore, run, stderr, async timeline =>
        {
            var chosen = TimelineSubject.Tags.Zip(subjects).Where(p => parse.GetValue(p.Second) is { Length: > 0 }).Select(p => new TimelineSubject(p.First, parse.GetValue(p.Second)!)).ToList();
            if (chosen.Count != 1)
            {
                throw new TimelineInputException("follow", $"give exactly one of {string.Join(", ", TimelineSubject.Tags.Select(t => $"--{t}"))}.");
            }

            var views = timeline.Select(new TimelineQuery(Subject: chosen[0])).Select(EventView.Of).ToList();
            var chain = chosen[0].Tag == "operation" ? RunCheck.Follow(timeline, chosen[0].Value) : null;
            await Write(parse, json, stdout, new { Subject = chosen[0].ToString(), Events = views, chain?.Broken, chain?.Verdict },
                () => string.Join(Environment.NewLine, views.Select(v => v.ToLine()).Append(chain?.Verdict ?? $"{views.Count} event(s) about {chosen[0]}.")));
            return chain is { Broken: true } ? ExitCodes.Failed : ExitCodes.Ok;
        }));

        var state = new Command("state", "Print what the run's events say the cluster was at one moment.") { at };
        state.SetAction((parse, _) => WithTimelineAsync(parse, LoadWithStore, run, stderr, async timeline =>
        {
            var projected = ClusterState.Of(timeline, TimelineReader.ParseMomentInRun(parse.GetValue(at)!, timeline, "--at"));
            await Write(parse, json, stdout, projected, () => Text(projected));
            return ExitCodes.Ok;
        }));

        var check = new Command("check", "Say where the run's chains of facts broke (lost events, operations without an outcome); exits 1 when any did.") { operation };
        check.SetAction((parse, _) => WithTimelineAsync(parse, LoadWithStore, run, stderr, async timeline =>
        {
            if (parse.GetValue(operation) is { } id)
            {
                var chain = RunCheck.Follow(timeline, id);
                await Write(parse, json, stdout, new { chain.OperationId, chain.Broken, chain.Verdict, Facts = chain.Facts.Select(EventView.Of) },
                    () => string.Join(Environment.NewLine, chain.Facts.Select(f => EventView.Of(f).ToLine()).Append(chain.Verdict)));
                return chain.Broken ? ExitCodes.Failed : ExitCodes.Ok;
            }

            var findings = RunCheck.Findings(timeline);
            var nodes = RunCheck.Nodes(timeline);
            await Write(parse, json, stdout, new { Run = timeline.RunId, Nodes = nodes, Findings = findings }, () => string.Join(Environment.NewLine,
                nodes.Select(n => $"node {n.NodeId}: {n.Events} events, sequences {n.FirstSequence}..{n.LastSequence}"
                    + (n.ClockBehind > TimeSpan.Zero ? $", its clock seen up to {n.ClockBehind.TotalMilliseconds:F0} ms behind the cluster's" : ""))
                .Concat(findings.Count == 0
                    ? [$"Run {timeline.RunId}: no broken chain, no lost event ({timeline.Events.Count} events from {nodes.Count} nodes)."]
                    : findings.Select(f => $"{f.Kind} {f.Subject}: {f.Message}"))));
            return findings.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        }));

        var tail = new Command("tail", "Print a run's events as the store receives them, from every node (the last ten first).") { count };
        tail.SetAction((parse, cancellationToken) => WithStoreAsync(parse, LoadWithStore, stderr, async reader =>
        {
            var timeline = await reader.LoadAsync(parse.GetValue(run));
            var held = timeline.Events.GroupBy(e => e.Stamp.NodeId).ToDictionary(g => g.Key, g => g.Max(e => e.Stamp.Sequence), StringComparer.Ordinal);
            foreach (var runEvent in timeline.Events.TakeLast(10))
            {
                await stdout.WriteLineAsync(EventView.Of(runEvent).ToLine());
            }

            var left = parse.GetValue(count) ?? int.MaxValue;
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
            try
            {
                while (left > 0 && await timer.WaitForNextTickAsync(cancellationToken))
                {
                    // Each node's new events, merged in causal order; a node that appears later is read from its start.
                    var fresh = new List<Contracts.Events.RunEvent>();
                    foreach (var node in await reader.NodesAsync(timeline.RunId))
                    {
                        var events = await reader.ReadAsync(timeline.RunId, node, held.GetValueOrDefault(node));
                        if (events.Count > 0)
                        {
                            held[node] = events[^1].Stamp.Sequence;
                            fresh.AddRange(events);
                        }
                    }

                    foreach (var runEvent in RunTimeline.Merge(timeline.RunId, [fresh]).Events.Take(left))
                    {
                        await stdout.WriteLineAsync(EventView.Of(runEvent).ToLine());
                        left--;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }

            return ExitCodes.Ok;
        }));

        var export = new Command("export", "Write a run as a Chrome trace (ui.perfetto.dev or chrome://tracing).") { output, format };
        export.SetAction((parse, cancellationToken) => WithTimelineAsync(parse, LoadWithStore, run, stderr, async timeline =>
        {
            if (parse.GetValue(format) != "chrome")
            {
                throw new TimelineInputException("--format", $"'{parse.GetValue(format)}' is not a format; the one there is: chrome.");
            }

            var file = parse.GetValue(output)!;
            await using (var stream = file.Create())
            {
                await ChromeTrace.WriteAsync(timeline, stream, cancellationToken);
            }

            await stdout.WriteLineAsync($"Wrote {timeline.Events.Count} events of run {timeline.RunId} to {file.FullName}; open it in https://ui.perfetto.dev.");
            return ExitCodes.Ok;
        }));

        return new Command("timeline", "The run timeline: every node's events, merged.") { run, json, eventsDir, runs, show, follow1, state, check, tail, export };
    }

    private static Task<int> WithTimelineAsync(ParseResult parse, Func<ParseResult, SiloSettings?> load, Option<string?> run, TextWriter stderr, Func<RunTimeline, Task<int>> action) =>
        WithStoreAsync(parse, load, stderr, async reader => await action(await reader.LoadAsync(parse.GetValue(run))));

    private static async Task<int> WithStoreAsync(ParseResult parse, Func<ParseResult, SiloSettings?> load, TextWriter stderr, Func<TimelineReader, Task<int>> action)
    {
        if (load(parse) is not { } settings)
        {
            return ExitCodes.InvalidConfiguration;
        }

        IConnectionMultiplexer? redis = null;
        try
        {
            if (settings.Persistence.EffectiveProvider == PersistenceProvider.Redis)
            {
                redis = await RedisBackend.ConnectAsync(settings.Persistence);
            }

            return await action(new TimelineReader(EventStores.OpenForReading(settings.Events, redis, settings.Cluster.ClusterId)));
        }
        catch (InvalidOperationException ex) when (redis is null && settings.Persistence.EffectiveProvider == PersistenceProvider.Redis)
        {
            await stderr.WriteLineAsync(ex.Message);
            return ExitCodes.BackendUnavailable;
        }
        catch (TimelineInputException ex)
        {
            await stderr.WriteLineAsync(ex.Message);
            return ExitCodes.InvalidArguments;
        }
        finally
        {
            if (redis is not null)
            {
                await redis.DisposeAsync();
            }
        }
    }

    private static async Task Write<T>(ParseResult parse, Option<bool> json, TextWriter stdout, T value, Func<string> text) =>
        await stdout.WriteLineAsync(parse.GetValue(json) ? JsonSerializer.Serialize(value, EventView.Json) : text());

    private static string Text(ClusterState state)
    {
        static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);
        var lines = new List<string> { $"Run {state.RunId} at {state.At.UtcDateTime:O}: {state.OperationsSucceeded} operation(s) succeeded, {state.OperationsFailed} failed, {state.InFlight.Count} in flight." };
        lines.AddRange(state.Nodes.Select(n => $"  node {n.NodeId} ({n.Role?.ToString() ?? "role unknown"}): {n.Events} events, last at {Time(n.LastEventAt)}"
            + (n.Resources is { } r ? $", cpu {r.CpuUtilization:P0}, memory {r.MemoryBytes / (1 << 20)} MiB" : "")));
        lines.AddRange(state.Entities.Select(e => $"  {e.Kind.ToString().ToLowerInvariant()} {e.Id}: {e.Status} since {Time(e.Since)}{(e.Reason is null ? "" : $" ({e.Reason})")}"));
        lines.AddRange(state.InFlight.Select(o => $"  operation {o.OperationId} ({o.Kind}, model {o.ModelId}): submitted {Time(o.SubmittedAt)}, {(o.RanOn is null ? "not run yet" : $"ran on {o.RanOn}, no outcome yet")}"));
        return string.Join(Environment.NewLine, lines);
    }
}
