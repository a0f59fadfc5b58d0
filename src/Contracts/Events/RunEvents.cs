namespace Coordinator.Contracts.Events;

/// <summary>What a node is in a run.</summary>
public enum NodeRole
{
    /// <summary>A coordinator silo (sessions, models, replicas, capacity).</summary>
    Coordinator = 1,
    /// <summary>A trainer host.</summary>
    Trainer = 2,
    /// <summary>A client process (a user's trainer script, the demo).</summary>
    Client = 3,
}

/// <summary>Once per node at its start: who it is in the run.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:run.started")]
[Id(7101)]
public sealed record RunStarted(
    [property: Id(0)] NodeRole Role,
    [property: Id(1)] string ConfigHash,
    [property: Id(2)] string Version,
    [property: Id(3)] DateTimeOffset StartedAt) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "run.started";
}

/// <summary>How severe a recorded log line was.</summary>
public enum LogSeverity
{
    /// <summary>Warning.</summary>
    Warning = 3,
    /// <summary>Error.</summary>
    Error = 4,
    /// <summary>Critical.</summary>
    Critical = 5,
}

/// <summary>A warning or error log line of the node, kept with the run's facts.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:log.recorded")]
[Id(7102)]
public sealed record LogRecorded(
    [property: Id(0)] LogSeverity Severity,
    [property: Id(1)] string Category,
    [property: Id(2)] string Message,
    [property: Id(3)] string? Exception) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "log.recorded";
}
