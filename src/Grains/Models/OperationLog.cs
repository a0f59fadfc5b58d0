using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;

namespace Coordinator.Grains.Models;

/// <summary>
/// Persisted with a model (its own state, beside <see cref="ModelState"/>): the operations it accepted, with what it
/// takes to run them, written before their tickets are returned. Rewritten at each submission; an entry whose operation
/// is recorded finished in <see cref="ModelState"/> is ignored (see <see cref="ModelState.CompletedThrough"/>).
/// </summary>
public sealed class PendingOperationsState : Storage.IStampedState
{
    /// <inheritdoc />
    public string? Writer { get; set; }

    /// <summary>The last sequence handed out.</summary>
    public long LastSequence { get; set; }

    /// <summary>Operations accepted and, when written, not yet finished; by sequence.</summary>
    public List<PendingOperation> Operations { get; set; } = [];
}

/// <summary>An accepted operation, as persisted until it finishes.</summary>
public sealed class PendingOperation
{
    public string OperationId { get; set; } = "";
    public long Sequence { get; set; }
    public string Kind { get; set; } = "";
    public string? IdempotencyKey { get; set; }
    public DateTimeOffset SubmittedAt { get; set; }

    /// <summary>The <see cref="TrainingOperation"/> in Orleans' binary format (the wire format, versioned by field ids).</summary>
    public byte[] Operation { get; set; } = [];
}

/// <summary>A finished operation, as persisted with the model so its outcome survives a failover.</summary>
public sealed class FinishedOperation
{
    public string OperationId { get; set; } = "";
    public long Sequence { get; set; }
    public string Kind { get; set; } = "";
    public string? IdempotencyKey { get; set; }
    public OperationStatus Status { get; set; }

    /// <summary>The <see cref="OperationOutput"/> in Orleans' binary format; null when the operation failed.</summary>
    public byte[]? Output { get; set; }

    public CoordinatorErrorCode? ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }
    public DateTimeOffset SubmittedAt { get; set; }
    public DateTimeOffset CompletedAt { get; set; }
}
