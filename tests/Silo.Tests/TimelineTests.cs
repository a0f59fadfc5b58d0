using System.Net;
using System.Text.Json;
using Coordinator.Contracts.Events;
using Coordinator.Events.Store;
using Coordinator.Hosting.Cli;
using Coordinator.Silo.Configuration;
using Coordinator.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordinator.Silo.Tests;

/// <summary>
/// The timeline of a recorded run through the silo binary: its CLI verbs on the files of the embedded default, and its
/// JSON API and /timeline page on a Redis-backed silo, the page rendered by a real headless Chromium.
/// </summary>
public sealed class TimelineTests(RedisFixture fixture) : IClassFixture<RedisFixture>, IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 14, 2, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-timeline-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_verbs_show_a_run_its_state_at_a_moment_and_where_an_operation_broke()
    {
        var store = Path.Combine(_directory, "store");
        using (var files = new FileEventStore(store, Serializer(), TimeProvider.System, TimeSpan.FromDays(7)))
        {
            await RecordAsync(files);
        }

        var config = Path.Combine(_directory, "silo.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { Events = new { StoreDirectory = store } }));

        var runs = await SiloCli.RunAsync("timeline", "runs", "--config", config);
        var followed = await SiloCli.RunAsync("timeline", "show", "--follow", "operation=op-1", "--config", config);
        var state = await SiloCli.RunAsync("timeline", "state", "--at", "14:02:02.500", "--config", config);
        var check = await SiloCli.RunAsync("timeline", "check", "--config", config);
        var chain = await SiloCli.RunAsync("timeline", "check", "--operation", "op-2", "--config", config);
        var followed3 = await SiloCli.RunAsync("timeline", "follow", "--operation", "op-3", "--events-dir", store);
        var json = await SiloCli.RunAsync("timeline", "show", "--node", "trainer-1", "--json", "--config", config);
        var trace = Path.Combine(_directory, "run.trace.json");
        var export = await SiloCli.RunAsync("timeline", "export", "--out", trace, "--config", config);

        Assert.Equal((ExitCodes.Ok, "run-1"), (runs.Exit, runs.Out.Trim()));
        Assert.Equal(ExitCodes.Ok, followed.Exit);
        Assert.Equal(["coordinator.operation_submitted", "training.finished", "coordinator.operation_completed"],
            followed.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  ")[2].Split(' ')[0]));
        Assert.Contains("model mdl-1: Loaded since 14:02:01.000", state.Out, StringComparison.Ordinal);
        Assert.Contains("operation op-2 (optim_step, model mdl-1): submitted 14:02:02.000, not run yet", state.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Failed, check.Exit);
        Assert.Contains("operation-unfinished op-2:", check.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Failed, chain.Exit);
        Assert.Contains("replica trainer-1 was declared dead", chain.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Failed, followed3.Exit);
        Assert.Contains("trainer-2#2  training.finished", followed3.Out, StringComparison.Ordinal);
        Assert.Contains("recorded no outcome", followed3.Out, StringComparison.Ordinal);
        Assert.Contains("node trainer-2: 3 events, sequences 1..4", check.Out, StringComparison.Ordinal);
        var views = JsonDocument.Parse(json.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(["run.started", "training.finished"], views.Select(v => v.GetProperty("type").GetString()));
        Assert.Equal(2.5, views[1].GetProperty("fields").GetProperty("loss").GetDouble());
        Assert.Equal(ExitCodes.Ok, export.Exit);
        Assert.True(JsonDocument.Parse(await File.ReadAllTextAsync(trace)).RootElement.GetProperty("traceEvents").GetArrayLength() > 10);
    }

    [Fact]
    public async Task A_bad_argument_or_an_unknown_run_is_named()
    {
        var config = Path.Combine(_directory, "silo.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { Events = new { StoreDirectory = Path.Combine(_directory, "store") } }));
        using (var files = new FileEventStore(Path.Combine(_directory, "store"), Serializer(), TimeProvider.System, TimeSpan.FromDays(7)))
        {
            await RecordAsync(files);
        }

        var badMoment = await SiloCli.RunAsync("timeline", "state", "--at", "25:99", "--config", config);
        var badSubject = await SiloCli.RunAsync("timeline", "show", "--follow", "colour=red", "--config", config);
        var unknownRun = await SiloCli.RunAsync("timeline", "show", "--run", "run-9", "--config", config);
        var outside = await SiloCli.RunAsync("timeline", "state", "--at", "15:00:00", "--config", config);
        var twoSubjects = await SiloCli.RunAsync("timeline", "follow", "--operation", "op-1", "--model", "mdl-1", "--config", config);
        var format = await SiloCli.RunAsync("timeline", "export", "--format", "svg", "--out", Path.Combine(_directory, "x"), "--config", config);

        Assert.Equal(ExitCodes.InvalidArguments, badMoment.Exit);
        Assert.StartsWith("--at: '25:99' is not a moment", badMoment.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.InvalidArguments, badSubject.Exit);
        Assert.StartsWith("--follow:", badSubject.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.InvalidArguments, unknownRun.Exit);
        Assert.Contains("no run 'run-9'", unknownRun.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.InvalidArguments, outside.Exit);
        Assert.Contains("is outside run run-1, which spans 2026-11-23T14:02:00.0000000Z to 2026-11-23T14:02:09.0000000Z", outside.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.InvalidArguments, twoSubjects.Exit);
        Assert.StartsWith("follow: give exactly one of", twoSubjects.Err, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.InvalidArguments, format.Exit);
        Assert.StartsWith("--format: 'svg' is not a format", format.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tail_prints_the_last_events_then_those_the_store_receives_from_any_node()
    {
        var store = Path.Combine(_directory, "store");
        using var files = new FileEventStore(store, Serializer(), TimeProvider.System, TimeSpan.FromDays(7));
        await RecordAsync(files);

        // Appended once the verb printed the run's last ten events: it has read the run and prints only what comes after.
        using var printed = new PrintedLines();
        var tail = SiloCli.RunAsync(printed, "timeline", "tail", "--count", "2", "--events-dir", store);
        await printed.Reached(10).WaitAsync(TimeSpan.FromSeconds(30));
        await files.AppendAsync("run-1", "trainer-3", [new RunEvent(
            new EventStamp("run-1", "trainer-3", 1, T0.AddSeconds(10), new HybridTime(T0.AddSeconds(10).ToUnixTimeMilliseconds(), 0), null, null),
            EventTags.None, new RunStarted(NodeRole.Trainer, "h", "1", T0))]);
        await files.AppendAsync("run-1", "silo-1", [new RunEvent(
            new EventStamp("run-1", "silo-1", 9, T0.AddSeconds(11), new HybridTime(T0.AddSeconds(11).ToUnixTimeMilliseconds(), 0), null, null),
            new EventTags(ModelId: "mdl-1"), new StateChanged(EntityKind.Model, "mdl-1", "Loaded", "Unloaded", "closed"))]);
        var (exit, output, _) = await tail.WaitAsync(TimeSpan.FromSeconds(30));

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal(12, lines.Length);
        Assert.Contains("trainer-3#1  run.started", lines[10], StringComparison.Ordinal);
        Assert.Contains("silo-1#9  coordinator.state_changed", lines[11], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_in_a_real_browser_shows_the_cluster_at_the_chosen_moment_and_the_broken_chain()
    {
        var (silo, settings) = await StartRecordedSiloAsync();
        await using var _ = silo;
        var http = $"http://127.0.0.1:{settings.Http.Port}";
        using var web = new HttpClient();

        using var state = JsonDocument.Parse(await web.GetStringAsync($"{http}/timeline/api/state?run=run-1&at=2026-11-23T14:02:02.5Z"));
        var badSubject = await web.GetAsync($"{http}/timeline/api/events?run=run-1&follow=colour%3Dred");
        var unknownRun = await web.GetAsync($"{http}/timeline/api/events?run=run-9");
        var dom = await HeadlessBrowser.DumpDomAsync($"{http}/timeline?run=run-1&at=2026-11-23T14:02:02.500Z", TimeSpan.FromSeconds(10));
        using var lanes = JsonDocument.Parse(await web.GetStringAsync($"{http}/timeline/api/lanes?run=run-1&buckets=10"));
        using var pageLanes = JsonDocument.Parse(await web.GetStringAsync($"{http}/timeline/api/lanes?run=run-1&buckets=190"));
        using var trainingLanes = JsonDocument.Parse(await web.GetStringAsync($"{http}/timeline/api/lanes?run=run-1&buckets=10&type=training."));
        var tooManyBuckets = await web.GetAsync($"{http}/timeline/api/lanes?run=run-1&buckets=0");
        var filtered = await HeadlessBrowser.DumpDomAsync($"{http}/timeline?run=run-1&at=2026-11-23T14:02:02.500Z&type=training.", TimeSpan.FromSeconds(10));

        Assert.Equal(["op-2"], state.RootElement.GetProperty("inFlight").EnumerateArray().Select(o => o.GetProperty("operationId").GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, badSubject.StatusCode);
        Assert.Contains("\"argument\":\"follow\"", await badSubject.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, unknownRun.StatusCode);

        // What the page's scripts rendered from the API: the state at 14:02:02.5 (op-2 in flight, not op-3 yet), and the findings.
        Assert.Contains("<td>mdl-1</td><td>Loaded</td>", dom, StringComparison.Ordinal);
        Assert.Contains("<td>op-2</td><td>optim_step</td>", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<td>op-3</td>", dom, StringComparison.Ordinal);
        Assert.Contains("operation-unfinished op-2: ", dom, StringComparison.Ordinal);
        Assert.Contains("events-lost trainer-2: ", dom, StringComparison.Ordinal);
        Assert.Contains("trainer-1#2  training.finished", dom, StringComparison.Ordinal);
        Assert.Matches("<div id=\"error\"></div>", dom);

        // One lane per node, counting its events per tenth of the run (9 s): all of them, or those of the types asked for
        // (training.finished, and trainer-2's training.adapter_unloaded).
        static Dictionary<string, int[]> Counts(JsonDocument lanes) => lanes.RootElement.GetProperty("lanes").EnumerateArray()
            .ToDictionary(l => l.GetProperty("node").GetString()!, l => l.GetProperty("counts").EnumerateArray().Select(c => c.GetInt32()).ToArray());
        var all = Counts(lanes);
        Assert.Equal([1, 3, 1, 0, 1, 0, 0, 0, 0, 1], all["silo-1"]);
        Assert.Equal(2, all["trainer-1"].Sum());
        Assert.Equal(3, all["trainer-2"].Sum());
        Assert.Equal([("silo-1", 0), ("trainer-1", 1), ("trainer-2", 2)], Counts(trainingLanes).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => (l.Key, l.Value.Sum())));
        Assert.Equal(HttpStatusCode.BadRequest, tooManyBuckets.StatusCode);

        // The page draws those lanes in 190 slices (a mark where a node has events) and, filtered by type, lists only those events.
        foreach (var node in (string[])["silo-1", "trainer-1", "trainer-2"])
        {
            Assert.Contains($"<g class=\"lane\" data-node=\"{node}\"", dom, StringComparison.Ordinal);
        }

        Assert.Equal(Counts(pageLanes).Values.Sum(c => c.Count(n => n > 0)), System.Text.RegularExpressions.Regex.Count(dom, "<rect class=\"tick\""));
        Assert.Contains("trainer-1#2  training.finished", filtered, StringComparison.Ordinal);
        Assert.DoesNotContain("run.started", filtered, StringComparison.Ordinal);
        Assert.Matches("<div id=\"error\"></div>", filtered);
    }

    [Fact]
    public async Task Live_mode_follows_the_newest_moment_and_shows_what_the_recorders_store_as_it_comes()
    {
        var (silo, settings) = await StartRecordedSiloAsync();
        await using var _ = silo;
        await using var page = await HeadlessBrowser.OpenAsync($"http://127.0.0.1:{settings.Http.Port}/timeline?run=run-1&at=2026-11-23T14:02:02.500Z&live=1");

        // Live mode goes to the newest moment, whatever the link said, and follows the run's feed.
        var dom = await page.WaitForAsync(d => d.Contains("<span id=\"feed\">following</span>", StringComparison.Ordinal)
            && d.Contains("silo-1#7  coordinator.replica_dead", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("<span id=\"at\">2026-11-23T14:02:09.000Z</span>", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("data-node=\"trainer-3\"", dom, StringComparison.Ordinal);

        // A node that joins later ships through its recorder, which stores and publishes: the page shows its lane and its
        // events without being reloaded (it does not poll; only the feed can tell it).
        var recorder = Recorder(silo, "trainer-3");
        await recorder.AppendAsync([Event("trainer-3", 1, 10_000, new RunStarted(NodeRole.Trainer, "h", "1", T0)), Event("trainer-3", 2, 11_000, new AdapterLoaded("mdl-3/1"))]);
        dom = await page.WaitForAsync(d => d.Contains("trainer-3#2  training.adapter_loaded", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        Assert.Contains("<g class=\"lane\" data-node=\"trainer-3\"", dom, StringComparison.Ordinal);
        Assert.Contains("<span id=\"at\">2026-11-23T14:02:11.000Z</span>", dom, StringComparison.Ordinal);
        Assert.Matches("<div id=\"error\"></div>", dom);
    }

    [Fact]
    public async Task The_live_feed_streams_each_stored_event_once_and_reads_on_from_a_reconnecting_clients_cursor()
    {
        var (silo, settings) = await StartRecordedSiloAsync();
        await using var _ = silo;
        var live = $"http://127.0.0.1:{settings.Http.Port}/timeline/api/live?run=run-1";
        using var web = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var recorder = Recorder(silo, "trainer-3");
        RunEvent[] events = [.. Enumerable.Range(1, 3).Select(i => Event("trainer-3", i, 10_000 + i, new AdapterLoaded($"mdl-{i}/1")))];

        string first;
        using (var response = await web.GetAsync(live, HttpCompletionOption.ResponseHeadersRead, deadline.Token))
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            using var stream = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));

            // Open: what is stored from now on comes, in one message per page; a batch sent again (a lost answer) is not.
            await recorder.AppendAsync(events[..2]);
            var (id, sent) = await NextMessageAsync(stream, deadline.Token);
            Assert.Equal(["trainer-3#1", "trainer-3#2"], sent);
            await recorder.AppendAsync(events[..2]);
            await recorder.AppendAsync(events[1..]);
            Assert.Equal(["trainer-3#3"], (await NextMessageAsync(stream, deadline.Token)).Events);
            first = id;
        }

        // A client that reconnects with the id of a message it got (as a browser's EventSource does) gets what followed it.
        using (var request = new HttpRequestMessage(HttpMethod.Get, live))
        {
            request.Headers.Add("Last-Event-ID", first);
            using var response = await web.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            using var stream = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));
            Assert.Equal(["trainer-3#3"], (await NextMessageAsync(stream, deadline.Token)).Events);
        }

        using var unknown = await web.GetAsync($"http://127.0.0.1:{settings.Http.Port}/timeline/api/live?run=run-9", deadline.Token);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("No run 'run-9'", await unknown.Content.ReadAsStringAsync(deadline.Token), StringComparison.Ordinal);
    }

    /// <summary>A Redis-backed silo of a cluster of its own, serving HTTP, whose store holds the run <see cref="RecordAsync"/> records.</summary>
    private async Task<(WebApplication Silo, SiloSettings Settings)> StartRecordedSiloAsync()
    {
        var settings = fixture.Settings(clusterId: $"timeline-{Guid.NewGuid():N}");
        var silo = await RedisFixture.StartSiloAsync(settings);
        await RecordAsync(silo.Services.GetRequiredService<IEventStore>());
        return (silo, settings);
    }

    private static IEventRecorderGrain Recorder(WebApplication silo, string node) =>
        silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IEventRecorderGrain>(RecorderKeys.Of("run-1", node));

    /// <summary>The next message of a server-sent event stream (comment lines skipped): its id, and its events as node#sequence.</summary>
    private static async Task<(string Id, string[] Events)> NextMessageAsync(StreamReader stream, CancellationToken cancellationToken)
    {
        string? id = null;
        while (await stream.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var data = JsonDocument.Parse(line[6..]);
                Assert.False(data.RootElement.GetProperty("gap").GetBoolean());
                return (id ?? throw new InvalidOperationException("A message without an id."), [.. data.RootElement.GetProperty("events").EnumerateArray()
                    .Select(e => $"{e.GetProperty("node").GetString()}#{e.GetProperty("sequence").GetInt64()}")]);
            }
        }

        throw new InvalidOperationException("The live feed ended.");
    }

    private static RunEvent Event(string node, long sequence, int ms, RunEventBody body) =>
        new(new EventStamp("run-1", node, sequence, T0.AddMilliseconds(ms), new HybridTime(T0.ToUnixTimeMilliseconds() + ms, 0), null, null), EventTags.None, body);

    private static Serializer Serializer() => new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(RunEvent).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    /// <summary>
    /// Records a run of a coordinator and two trainers: op-1 completes; op-2 is submitted and trainer-1 goes quiet and is
    /// declared dead; op-3 runs on trainer-2, whose event 3 is lost, and gets no outcome.
    /// </summary>
    private static async Task RecordAsync(IEventStore store)
    {
        var silo = new List<RunEvent>();
        var trainer1 = new List<RunEvent>();
        var trainer2 = new List<RunEvent>();
        void At(List<RunEvent> node, string id, int ms, RunEventBody body, EventTags? tags = null, int skip = 0) => node.Add(new RunEvent(
            new EventStamp("run-1", id, node.Count + 1 + skip, T0.AddMilliseconds(ms), new HybridTime(T0.ToUnixTimeMilliseconds() + ms, node.Count), null, null),
            tags ?? EventTags.None, body));
        EventTags Op(string op, string model = "mdl-1") => new(ModelId: model, OperationId: op);

        At(silo, "silo-1", 0, new RunStarted(NodeRole.Coordinator, "h", "1", T0));
        At(trainer1, "trainer-1", 100, new RunStarted(NodeRole.Trainer, "h", "1", T0));
        At(trainer2, "trainer-2", 150, new RunStarted(NodeRole.Trainer, "h", "1", T0));
        At(silo, "silo-1", 1000, new StateChanged(EntityKind.Model, "mdl-1", "Placed", "Loaded", null), new EventTags(ModelId: "mdl-1"));
        At(silo, "silo-1", 1500, new OperationSubmitted("forward_backward", 1, "key-1"), Op("op-1"));
        At(trainer1, "trainer-1", 1600, new TrainingFinished("forward_backward", 2.5, TimeSpan.FromMilliseconds(40), null), Op("op-1"));
        At(silo, "silo-1", 1700, new OperationCompleted("forward_backward", true, null, null), Op("op-1"));
        At(silo, "silo-1", 2000, new OperationSubmitted("optim_step", 2, "key-2"), Op("op-2"));
        At(silo, "silo-1", 4000, new OperationSubmitted("forward", 3, "key-3"), Op("op-3", "mdl-2"));
        At(trainer2, "trainer-2", 4100, new TrainingFinished("forward", 1.5, TimeSpan.FromMilliseconds(10), null), Op("op-3", "mdl-2"));
        At(trainer2, "trainer-2", 4200, new AdapterUnloaded("mdl-2/1"), skip: 1);
        At(silo, "silo-1", 9000, new ReplicaDeclaredDead("no heartbeat since 14:02:02"), new EventTags(ReplicaId: "trainer-1"));
        foreach (var node in (List<RunEvent>[])[silo, trainer1, trainer2])
        {
            await store.AppendAsync("run-1", node[0].Stamp.NodeId, node);
        }
    }
}
