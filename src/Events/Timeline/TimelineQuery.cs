using Coordinator.Contracts.Events;

namespace Coordinator.Events.Timeline;

/// <summary>
/// Which events of a timeline to show: of one node, within a wall-time window, about one thing (a tag and its value,
/// such as <c>operation=op-…</c> or <c>model=mdl-…</c>), of some types, at most so many. Unset parts select everything.
/// </summary>
public sealed record TimelineQuery(
    string? Node = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    TimelineSubject? Subject = null,
    string? TypePrefix = null,
    int? Limit = null)
{
    /// <summary>Whether <paramref name="runEvent"/> is selected.</summary>
    public bool Matches(RunEvent runEvent)
    {
        ArgumentNullException.ThrowIfNull(runEvent);
        return (Node is null || runEvent.Stamp.NodeId == Node)
            && (From is null || runEvent.Stamp.Timestamp >= From)
            && (To is null || runEvent.Stamp.Timestamp <= To)
            && (Subject is null || Subject.Matches(runEvent.Tags))
            && (TypePrefix is null || runEvent.Body.Type.StartsWith(TypePrefix, StringComparison.Ordinal));
    }
}

/// <summary>One thing a run's events can be about: a tag name and its value.</summary>
public sealed record TimelineSubject(string Tag, string Value)
{
    /// <summary>The tag names, as written in <c>tag=value</c>.</summary>
    public static IReadOnlyList<string> Tags { get; } = ["session", "model", "operation", "replica", "batch", "blob", "transfer"];

    /// <summary>Parses <c>tag=value</c>; the error names the tags there are.</summary>
    public static TimelineSubject Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        var (tag, value) = equals > 0 ? (text[..equals].Trim().ToLowerInvariant(), text[(equals + 1)..].Trim()) : ("", "");
        return Tags.Contains(tag) && value.Length > 0
            ? new TimelineSubject(tag, value)
            : throw new FormatException($"'{text}' is not tag=value with a tag among {string.Join(", ", Tags)}.");
    }

    /// <summary>Whether <paramref name="tags"/> name this subject.</summary>
    public bool Matches(EventTags tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        return Of(tags, Tag) == Value;
    }

    /// <summary>The value of tag <paramref name="tag"/> in <paramref name="tags"/>.</summary>
    public static string? Of(EventTags tags, string tag)
    {
        ArgumentNullException.ThrowIfNull(tags);
        return tag switch
        {
            "session" => tags.SessionId,
            "model" => tags.ModelId,
            "operation" => tags.OperationId,
            "replica" => tags.ReplicaId,
            "batch" => tags.BatchId,
            "blob" => tags.BlobHash,
            "transfer" => tags.TransferId,
            _ => null,
        };
    }

    /// <inheritdoc />
    public override string ToString() => $"{Tag}={Value}";
}
