namespace Coordinator.Contracts.Events;

/// <summary>The kinds of coordinator state whose changes are recorded.</summary>
public enum EntityKind
{
    /// <summary>A session (tag: session id).</summary>
    Session = 1,
    /// <summary>A model (tag: model id).</summary>
    Model = 2,
    /// <summary>A replica (tag: replica id).</summary>
    Replica = 3,
}

/// <summary>An entity's status as the node saw it change (for example a model from Placed to Loaded).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:coordinator.state_changed")]
[Id(7103)]
public sealed record StateChanged(
    [property: Id(0)] EntityKind Entity,
    [property: Id(1)] string EntityId,
    [property: Id(2)] string? From,
    [property: Id(3)] string To,
    [property: Id(4)] string? Reason) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "coordinator.state_changed";
}

/// <summary>A model was given a slot on a replica (tags: model, replica).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:coordinator.model_placed")]
[Id(7104)]
public sealed record ModelPlaced([property: Id(0)] string PlacementKey) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "coordinator.model_placed";
}

/// <summary>A replica was declared dead (tag: replica), and why.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:coordinator.replica_dead")]
[Id(7105)]
public sealed record ReplicaDeclaredDead([property: Id(0)] string Reason) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "coordinator.replica_dead";
}

/// <summary>A model accepted an operation (tags: model, operation).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:coordinator.operation_submitted")]
[Id(7106)]
public sealed record OperationSubmitted(
    [property: Id(0)] string Kind,
    [property: Id(1)] long Sequence,
    [property: Id(2)] string? IdempotencyKey) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "coordinator.operation_submitted";
}

/// <summary>A model recorded an operation's outcome (tags: model, operation); <paramref name="Error"/> is the error text when it failed.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:coordinator.operation_completed")]
[Id(7107)]
public sealed record OperationCompleted(
    [property: Id(0)] string Kind,
    [property: Id(1)] bool Succeeded,
    [property: Id(2)] string? ErrorCode,
    [property: Id(3)] string? Error) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "coordinator.operation_completed";
}
