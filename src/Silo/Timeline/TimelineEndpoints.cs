using System.Reflection;
using System.Text.Json;
using Coordinator.Events.Live;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;

namespace Coordinator.Silo.Timeline;

/// <summary>
/// The run timeline over HTTP: the <c>/timeline</c> page (scrub a run, the cluster's state at a moment, follow one
/// thing, where chains broke) and the JSON API it reads, for scripts too:
/// <c>/timeline/api/runs</c>, <c>events</c>, <c>lanes</c> (events per node per slice of the run), <c>state</c>,
/// <c>check</c>, <c>trace</c> (Chrome trace JSON) and <c>live</c> (server-sent events as the recorders store them). A bad
/// parameter is a 400 naming it; an unknown run, a 404. Runs are read through the <see cref="TimelineCache"/>, so
/// scrubbing one reloads it only when it grew. Events take <c>limit</c> (the first n) or <c>tail</c> (the last n).
/// </summary>
internal static partial class TimelineEndpoints
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Coordinator.Silo.Timeline.timeline.html")
            ?? throw new InvalidOperationException("The timeline page is not embedded in the silo assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static WebApplication MapCoordinatorTimeline(this WebApplication app)
    {
        app.MapGet("/timeline", () => Results.Content(Page.Value, "text/html; charset=utf-8"));
        app.MapGet("/timeline/api/runs", async (IEventStore store) => Results.Json(await store.RunsAsync(), EventView.Json));
        app.MapGet("/timeline/api/events", (IEventStore store, TimelineCache cache, string? run, string? node, string? from, string? to, string? follow, string? type, int? limit, int? tail) =>
            Answer(store, cache, run, timeline =>
            {
                var query = new TimelineQuery(
                    node,
                    from is null ? null : TimelineReader.ParseMoment(from, timeline, "from"),
                    to is null ? null : TimelineReader.ParseMoment(to, timeline, "to"),
                    TimelineReader.ParseSubject(follow, "follow"),
                    type,
                    limit is null or > 0 ? limit : throw new TimelineInputException("limit", $"must be positive (got {limit})."));
                return new
                {
                    Run = timeline.RunId,
                    Nodes = timeline.Nodes,
                    Gaps = timeline.Gaps,
                    Start = timeline.Events.Count > 0 ? timeline.Events.Min(e => e.Stamp.Timestamp) : (DateTimeOffset?)null,
                    End = timeline.Events.Count > 0 ? timeline.Events.Max(e => e.Stamp.Timestamp) : (DateTimeOffset?)null,
                    Events = (tail is null ? timeline.Select(query) : timeline.Select(query).TakeLast(tail > 0 ? tail.Value : throw new TimelineInputException("tail", $"must be positive (got {tail})."))).Select(EventView.Of),
                };
            }));
        app.MapGet("/timeline/api/lanes", (IEventStore store, TimelineCache cache, string? run, int? buckets, string? type) =>
            Answer(store, cache, run, timeline => RunLanes.Of(timeline, buckets ?? 200, type)));
        app.MapGet("/timeline/api/state", (IEventStore store, TimelineCache cache, string? run, string? at) =>
            Answer(store, cache, run, timeline => ClusterState.Of(timeline, at is null ? DateTimeOffset.MaxValue : TimelineReader.ParseMomentInRun(at, timeline, "at"))));
        app.MapGet("/timeline/api/check", (IEventStore store, TimelineCache cache, string? run, string? operation) =>
            Answer(store, cache, run, timeline => operation is null
                ? (object)new { Run = timeline.RunId, Findings = RunCheck.Findings(timeline) }
                : RunCheck.Follow(timeline, operation) is var chain
                    ? new { chain.OperationId, chain.Broken, chain.Verdict, Facts = chain.Facts.Select(EventView.Of) }
                    : null!));
        app.MapGet("/timeline/api/live", Live);
        app.MapGet("/timeline/api/trace", async (IEventStore store, TimelineCache cache, string? run, HttpContext http) =>
        {
            try
            {
                var timeline = await new TimelineReader(store, cache).LoadAsync(run);
                http.Response.ContentType = "application/json";
                http.Response.Headers.ContentDisposition = $"attachment; filename=\"{timeline.RunId}.trace.json\"";
                await ChromeTrace.WriteAsync(timeline, http.Response.Body, http.RequestAborted);
                return Results.Empty;
            }
            catch (TimelineInputException ex)
            {
                return Problem(ex);
            }
        });
        return app;
    }

    /// <summary>
    /// Server-sent events of a run's live feed (<see cref="IRunFeedGrain"/>): one message per page of events the
    /// recorders stored, <c>{"gap":false,"events":[...]}</c> with the feed's cursor as its id (a browser that reconnects
    /// sends it back as <c>Last-Event-ID</c>, and reads on from there), and a comment line when a wait ends with none.
    /// A gap means events were missed: read them from <c>/timeline/api/events</c>. Ends when the client leaves or the
    /// silo stops.
    /// </summary>
    private static async Task Live(IEventStore store, IGrainFactory grains, IHostApplicationLifetime lifetime, ILoggerFactory loggers, HttpContext http, string? run, long? after)
    {
        if (string.IsNullOrWhiteSpace(run) || !(await store.RunsAsync()).Contains(run, StringComparer.Ordinal))
        {
            await Problem(new TimelineInputException("run", string.IsNullOrWhiteSpace(run) ? "A run is required (run=ID)." : $"No run '{run}' in the event store."))
                .ExecuteAsync(http);
            return;
        }

        if (long.TryParse(http.Request.Headers["Last-Event-ID"], System.Globalization.CultureInfo.InvariantCulture, out var reconnected))
        {
            after = reconnected;
        }

        using var leaving = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var logger = loggers.CreateLogger(typeof(TimelineEndpoints).FullName!);
        var feed = grains.GetGrain<IRunFeedGrain>(run);
        try
        {
            // The cursor is taken before the answer starts: once a client sees the stream open, nothing stored later is missed.
            after ??= (await feed.ReadAsync(null, TimeSpan.Zero, leaving.Token)).Next;
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            await http.Response.WriteAsync(": following\n\n", leaving.Token);
            await http.Response.Body.FlushAsync(leaving.Token);
            while (!leaving.IsCancellationRequested)
            {
                var page = await feed.ReadAsync(after, LiveWait, leaving.Token);
                after = page.Next;
                var message = page.Events.Count == 0 && !page.Gap
                    ? ": waiting\n\n"
                    : $"id: {page.Next}\ndata: {JsonSerializer.Serialize(new { page.Gap, Events = page.Events.Select(EventView.Of) }, EventView.Json)}\n\n";
                await http.Response.WriteAsync(message, leaving.Token);
                await http.Response.Body.FlushAsync(leaving.Token);
            }
        }
        catch (OperationCanceledException) when (leaving.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (http.Response.HasStarted && ex is OrleansException or TimeoutException or IOException)
        {
            // The feed's silo died or did not answer: end the stream. A browser reconnects by itself (from its last id,
            // which the feed's next activation reads as a gap), and the store still holds every event.
            LogFeedEnded(logger, ex, run);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The live feed of run {RunId} ended for a client; it reconnects by itself")]
    private static partial void LogFeedEnded(ILogger logger, Exception exception, string runId);

    /// <summary>How long one read of a live feed waits for events before the stream gets a keep-alive line.</summary>
    private static readonly TimeSpan LiveWait = TimeSpan.FromSeconds(10);

    private static async Task<IResult> Answer(IEventStore store, TimelineCache cache, string? run, Func<RunTimeline, object> answer)
    {
        try
        {
            return Results.Json(answer(await new TimelineReader(store, cache).LoadAsync(run)), EventView.Json);
        }
        catch (TimelineInputException ex)
        {
            return Problem(ex);
        }
    }

    private static IResult Problem(TimelineInputException ex) =>
        Results.Json(new { Error = ex.Message, ex.Argument }, EventView.Json, statusCode: ex.Argument == "run" ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest);
}
