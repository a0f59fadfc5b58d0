using System.Globalization;
using Coordinator.Events.Store;

namespace Coordinator.Events.Timeline;

/// <summary>
/// Opens timelines from a store for the CLI verbs and the JSON API (through a <see cref="TimelineCache"/> when given),
/// and reads the moments people type. Errors are
/// <see cref="TimelineInputException"/> naming what was wrong.
/// </summary>
public sealed class TimelineReader(IEventStore store, TimelineCache? cache = null)
{
    /// <summary>The run <paramref name="runId"/>, or the newest one when it is null or empty.</summary>
    public async Task<RunTimeline> LoadAsync(string? runId)
    {
        if (string.IsNullOrWhiteSpace(runId))
        {
            var runs = await store.RunsAsync();
            runId = runs.Count > 0 ? runs[0] : throw new TimelineInputException("run", "The event store holds no run yet.");
        }

        try
        {
            return cache is null ? await RunTimeline.LoadAsync(store, runId) : await cache.LoadAsync(runId);
        }
        catch (KeyNotFoundException ex)
        {
            throw new TimelineInputException("run", ex.Message);
        }
    }

    /// <summary>The runs held, newest first.</summary>
    public Task<IReadOnlyList<string>> RunsAsync() => store.RunsAsync();

    /// <summary>The nodes that recorded events in <paramref name="runId"/>.</summary>
    public Task<IReadOnlyList<string>> NodesAsync(string runId) => store.NodesAsync(runId);

    /// <summary>A node's events after <paramref name="after"/>.</summary>
    public Task<IReadOnlyList<Contracts.Events.RunEvent>> ReadAsync(string runId, string nodeId, long after) => store.ReadAsync(runId, nodeId, after);

    /// <summary>
    /// A moment: an ISO 8601 time (<c>2026-11-23T14:02:07Z</c>; no offset means UTC), a UTC time of day
    /// (<c>14:02:07</c> or <c>14:02:07.250</c>, on the day of the run's first event), or <c>+90s</c> / <c>+1.5m</c> after
    /// the run's first event. <paramref name="name"/> names the argument in the error.
    /// </summary>
    public static DateTimeOffset ParseMoment(string text, RunTimeline timeline, string name)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(timeline);
        var start = timeline.Events.Count > 0 ? timeline.Events.Min(e => e.Stamp.Timestamp) : DateTimeOffset.UnixEpoch;
        var trimmed = text.Trim();
        if (trimmed.StartsWith('+') && trimmed.Length > 2
            && double.TryParse(trimmed[1..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            switch (trimmed[^1])
            {
                case 's':
                    return start.AddSeconds(amount);
                case 'm':
                    return start.AddMinutes(amount);
            }
        }

        if (TimeSpan.TryParseExact(trimmed, [@"hh\:mm\:ss", @"hh\:mm\:ss\.FFFFFFF"], CultureInfo.InvariantCulture, out var timeOfDay))
        {
            return new DateTimeOffset(start.UtcDateTime.Date + timeOfDay, TimeSpan.Zero);
        }

        return DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var moment)
            ? moment
            : throw new TimelineInputException(name, $"'{text}' is not a moment: give an ISO 8601 time (2026-11-23T14:02:07Z), a UTC time of day (14:02:07.250) or an offset from the run's start (+90s, +1.5m).");
    }

    /// <summary>A moment within the run (<see cref="ParseMoment"/>); one before its first event or after its last is refused, naming the run's span.</summary>
    public static DateTimeOffset ParseMomentInRun(string text, RunTimeline timeline, string name)
    {
        ArgumentNullException.ThrowIfNull(timeline);
        var moment = ParseMoment(text, timeline, name);
        if (timeline.Events.Count == 0)
        {
            return moment;
        }

        var (first, last) = (timeline.Events.Min(e => e.Stamp.Timestamp), timeline.Events.Max(e => e.Stamp.Timestamp));
        return moment >= first && moment <= last
            ? moment
            : throw new TimelineInputException(name, $"{moment.UtcDateTime:O} is outside run {timeline.RunId}, which spans {first.UtcDateTime:O} to {last.UtcDateTime:O}.");
    }

    /// <summary>A <c>tag=value</c> subject, or null for an empty text.</summary>
    public static TimelineSubject? ParseSubject(string? text, string name)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        try
        {
            return TimelineSubject.Parse(text);
        }
        catch (FormatException ex)
        {
            throw new TimelineInputException(name, ex.Message);
        }
    }
}

/// <summary>A timeline argument that is wrong: which one, and why.</summary>
public sealed class TimelineInputException(string argument, string message) : Exception($"{argument}: {message}")
{
    /// <summary>The argument (CLI option or query parameter name).</summary>
    public string Argument { get; } = argument;
}
