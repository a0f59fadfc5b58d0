namespace Coordinator.Contracts.Events;

/// <summary>Batches handed to a node for a step (tags: model, and one event per batch with its batch id when known).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.batches_assigned")]
[Id(7108)]
public sealed record BatchesAssigned([property: Id(0)] IReadOnlyList<string> BatchIds) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.batches_assigned";
}

/// <summary>An adapter was loaded on a trainer (tags: model, replica).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.adapter_loaded")]
[Id(7109)]
public sealed record AdapterLoaded([property: Id(0)] string AdapterKey) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.adapter_loaded";
}

/// <summary>An adapter was unloaded from a trainer (tags: model, replica).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.adapter_unloaded")]
[Id(7110)]
public sealed record AdapterUnloaded([property: Id(0)] string AdapterKey) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.adapter_unloaded";
}

/// <summary>
/// A trainer started an operation (tags: model, operation): its turn among the adapter's operations came and it was
/// handed to the device thread, which may still be busy with other adapters' operations.
/// </summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.started")]
[Id(7111)]
public sealed record TrainingStarted([property: Id(0)] string Kind) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.started";
}

/// <summary>A trainer finished an operation (tags: model, operation): its loss when it has one, and its device time.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.finished")]
[Id(7112)]
public sealed record TrainingFinished(
    [property: Id(0)] string Kind,
    [property: Id(1)] double? Loss,
    [property: Id(2)] TimeSpan ComputeTime,
    [property: Id(3)] string? Error) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.finished";
}

/// <summary>Received results began to be deserialized (tags: blob or batch).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.results_deserialize_started")]
[Id(7113)]
public sealed record ResultsDeserializeStarted([property: Id(0)] long Bytes) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.results_deserialize_started";
}

/// <summary>Received results were deserialized (tags: blob or batch).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.results_deserialized")]
[Id(7114)]
public sealed record ResultsDeserialized([property: Id(0)] TimeSpan Duration) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.results_deserialized";
}

/// <summary>Deserialized results are being applied to the model (tags: model, batch).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:training.results_applying")]
[Id(7115)]
public sealed record ResultsApplying([property: Id(0)] int Count) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "training.results_applying";
}

/// <summary>A checkpoint (adapter state file, or a serialized model) was written (tags: model; transfer when uploaded after).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:checkpoint.written")]
[Id(7116)]
public sealed record CheckpointWritten(
    [property: Id(0)] string Path,
    [property: Id(1)] long Bytes,
    [property: Id(2)] long Step,
    [property: Id(3)] TimeSpan Duration) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "checkpoint.written";
}

/// <summary>A checkpoint was read and applied (tags: model).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:checkpoint.read")]
[Id(7117)]
public sealed record CheckpointRead(
    [property: Id(0)] string Path,
    [property: Id(1)] long Step,
    [property: Id(2)] TimeSpan Duration) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "checkpoint.read";
}

/// <summary>A peer asked this node for parameters during warm-up (transfer follows, tag: transfer).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:warmup.parameters_requested")]
[Id(7118)]
public sealed record ParametersRequested([property: Id(0)] string Peer) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "warmup.parameters_requested";
}
