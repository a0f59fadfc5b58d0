using System.Reflection;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;

namespace Coordinator.Silo.Timeline;

/// <summary>
/// The run timeline over HTTP: the <c>/timeline</c> page (scrub a run, the cluster's state at a moment, follow one
/// thing, where chains broke) and the JSON API it reads, for scripts too:
/// <c>/timeline/api/runs</c>, <c>events</c>, <c>lanes</c> (events per node per slice of the run), <c>state</c>,
/// <c>check</c> and <c>trace</c> (Chrome trace JSON). A bad
/// parameter is a 400 naming it; an unknown run, a 404. Runs are read through the <see cref="TimelineCache"/>, so
/// scrubbing one reloads it only when it grew. Events take <c>limit</c> (the first n) or <c>tail</c> (the last n).
/// </summary>
internal static class TimelineEndpoints
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
