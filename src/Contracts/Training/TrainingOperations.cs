using Coordinator.Contracts.Errors;

namespace Coordinator.Contracts.Training;

/// <summary>
/// One operation on a model (LoRA adapter). Operations on one model run in the order they were submitted.
/// <see cref="Validate"/> checks what can be checked without the base model; the trainer checks the rest
/// (token ids against the vocabulary, lengths against the context) before it changes anything.
/// </summary>
[GenerateSerializer]
public abstract record TrainingOperation
{
    /// <summary>Short name of the operation, as used in logs, metrics and results.</summary>
    public abstract string Kind { get; }

    /// <summary>Throws <see cref="CoordinatorException"/> (InvalidArgument) naming the first invalid field.</summary>
    public abstract void Validate();

    /// <summary>Validates operations submitted together: at least one, none null, each valid.</summary>
    public static void ValidateAll(IReadOnlyList<TrainingOperation> operations)
    {
        if (operations is null || operations.Count == 0)
        {
            throw CoordinatorException.InvalidArgument("At least one operation must be given.");
        }

        for (var i = 0; i < operations.Count; i++)
        {
            if (operations[i] is null)
            {
                throw CoordinatorException.InvalidArgument($"Operations[{i}] must be given.");
            }

            operations[i].Validate();
        }
    }
}

/// <summary>Computes the loss of a batch without changing the adapter.</summary>
[GenerateSerializer, Immutable]
public sealed record ForwardOperation([property: Id(0)] IReadOnlyList<Datum> Batch) : TrainingOperation
{
    /// <inheritdoc/>
    public override string Kind => "forward";

    /// <inheritdoc/>
    public override void Validate() => TrainingValidation.Batch(Batch);
}

/// <summary>Computes the loss of a batch and adds its gradients to the adapter's accumulated gradients.</summary>
[GenerateSerializer, Immutable]
public sealed record ForwardBackwardOperation([property: Id(0)] IReadOnlyList<Datum> Batch) : TrainingOperation
{
    /// <inheritdoc/>
    public override string Kind => "forward_backward";

    /// <inheritdoc/>
    public override void Validate() => TrainingValidation.Batch(Batch);
}

/// <summary>Applies the accumulated gradients with Adam and clears them.</summary>
[GenerateSerializer, Immutable]
public sealed record OptimStepOperation([property: Id(0)] AdamParams Adam) : TrainingOperation
{
    /// <inheritdoc/>
    public override string Kind => "optim_step";

    /// <inheritdoc/>
    public override void Validate() => TrainingValidation.Adam(Adam);
}

/// <summary>Samples continuations of a prompt.</summary>
[GenerateSerializer, Immutable]
public sealed record SampleOperation(
    [property: Id(0)] int[] Prompt,
    [property: Id(1)] SamplingParams Sampling) : TrainingOperation
{
    /// <inheritdoc/>
    public override string Kind => "sample";

    /// <inheritdoc/>
    public override void Validate() => TrainingValidation.Sampling(Prompt, Sampling);
}

/// <summary>Writes the adapter's weights (and optionally its optimizer state) to a file on the trainer.</summary>
[GenerateSerializer, Immutable]
public sealed record SaveStateOperation(
    [property: Id(0)] string Path,
    [property: Id(1)] bool IncludeOptimizerState = true) : TrainingOperation
{
    /// <inheritdoc/>
    public override string Kind => "save_state";

    /// <inheritdoc/>
    public override void Validate() => TrainingValidation.StatePath(Path);
}

/// <summary>Replaces the adapter's weights (and optionally its optimizer state) with a file written by save_state.</summary>
[GenerateSerializer, Immutable]
public sealed record LoadStateOperation(
    [property: Id(0)] string Path,
    [property: Id(1)] bool IncludeOptimizerState = true) : TrainingOperation
{
    /// <inheritdoc/>
    public override string Kind => "load_state";

    /// <inheritdoc/>
    public override void Validate() => TrainingValidation.StatePath(Path);
}

/// <summary>What an operation produced; exactly one field is set, matching the operation's kind.</summary>
[GenerateSerializer, Immutable]
public sealed record OperationOutput(
    [property: Id(0)] ForwardResult? Forward = null,
    [property: Id(1)] OptimStepResult? OptimStep = null,
    [property: Id(2)] SampleResult? Sample = null,
    [property: Id(3)] CheckpointResult? Checkpoint = null)
{
    /// <summary>The device timing of whichever result is set.</summary>
    public StepTiming? Timing => Forward?.Timing ?? OptimStep?.Timing ?? Sample?.Timing ?? Checkpoint?.Timing;
}

/// <summary>Where a submitted operation is. Only moves forward: Queued, Running, then Succeeded or Failed.</summary>
public enum OperationStatus
{
    /// <summary>Waiting behind earlier operations of the same model.</summary>
    Queued = 0,
    /// <summary>Sent to the trainer.</summary>
    Running = 1,
    /// <summary>Finished; <see cref="OperationResult.Output"/> holds the result.</summary>
    Succeeded = 2,
    /// <summary>Finished with an error; the adapter was left as it was before the operation.</summary>
    Failed = 3,
}

/// <summary>Identifies a submitted operation.</summary>
[GenerateSerializer, Immutable]
public sealed record OperationTicket(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string OperationId,
    [property: Id(2)] string Kind,
    [property: Id(3)] long Sequence);

/// <summary>How operation ids are made: from the model and the operation's sequence in its log (stable across failovers).</summary>
public static class OperationIds
{
    /// <summary>The id of operation <paramref name="sequence"/> of model <paramref name="modelId"/>.</summary>
    public static string Of(string modelId, long sequence) => $"op-{modelId}-{sequence}";
}

/// <summary>The status, and once finished the result or error, of a submitted operation.</summary>
[GenerateSerializer, Immutable]
public sealed record OperationResult(
    [property: Id(0)] OperationTicket Ticket,
    [property: Id(1)] OperationStatus Status,
    [property: Id(2)] OperationOutput? Output,
    [property: Id(3)] CoordinatorErrorCode? ErrorCode,
    [property: Id(4)] string? ErrorMessage,
    [property: Id(5)] DateTimeOffset SubmittedAt,
    [property: Id(6)] DateTimeOffset? CompletedAt)
{
    /// <summary>True once the operation succeeded or failed.</summary>
    public bool IsCompleted => Status is OperationStatus.Succeeded or OperationStatus.Failed;

    /// <summary>Returns the output of a successful operation, or throws the operation's error.</summary>
    public OperationOutput GetOutputOrThrow() => Status switch
    {
        OperationStatus.Succeeded => Output!,
        OperationStatus.Failed => throw new CoordinatorException(ErrorCode ?? CoordinatorErrorCode.InvalidState, $"{Ticket.Kind} {Ticket.OperationId} on model '{Ticket.ModelId}' failed: {ErrorMessage}"),
        _ => throw CoordinatorException.InvalidState($"{Ticket.Kind} {Ticket.OperationId} on model '{Ticket.ModelId}' has not finished ({Status})."),
    };
}
