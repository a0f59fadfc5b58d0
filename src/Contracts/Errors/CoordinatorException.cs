namespace Coordinator.Contracts.Errors;

/// <summary>What kind of failure a <see cref="CoordinatorException"/> reports, so callers can react without parsing messages.</summary>
public enum CoordinatorErrorCode
{
    /// <summary>An argument was missing, out of range or malformed; nothing was changed.</summary>
    InvalidArgument = 1,
    /// <summary>The addressed session, model or replica does not exist.</summary>
    NotFound = 2,
    /// <summary>The entity exists but belongs to someone else or was created with other parameters.</summary>
    Conflict = 3,
    /// <summary>The owner token does not match the one the session was created with.</summary>
    Unauthorized = 4,
    /// <summary>The session was closed or expired.</summary>
    SessionEnded = 5,
    /// <summary>A configured limit (such as models per owner token) would be exceeded.</summary>
    LimitExceeded = 6,
    /// <summary>No replica of the base model has a free LoRA slot.</summary>
    NoCapacity = 7,
    /// <summary>The operation is not allowed in the entity's current state.</summary>
    InvalidState = 8,
    /// <summary>The trainer that holds the model is unreachable or gone; its adapter state is lost unless it was saved.</summary>
    ReplicaUnavailable = 9,
    /// <summary>
    /// Retryable: a coordinator silo, the cluster connection or the storage backend was briefly unreachable, so the
    /// call's outcome is unknown. Retry it as it was (a submission with the same idempotency key) and it takes effect
    /// once; <c>CoordinatorClient</c> does so itself until its retry time runs out.
    /// </summary>
    Unavailable = 10,
    /// <summary>An unexpected server-side failure (a bug); the message names what failed. Not retryable as such.</summary>
    Internal = 11,
}

/// <summary>A typed, caller-facing error raised by Coordinator grains and the client facade.</summary>
[GenerateSerializer]
public class CoordinatorException : Exception
{
    /// <summary>Creates an exception with the given code and message.</summary>
    public CoordinatorException(CoordinatorErrorCode code, string message)
        : base(message) => Code = code;

    /// <summary>Creates an exception with the given code, message and cause.</summary>
    public CoordinatorException(CoordinatorErrorCode code, string message, Exception innerException)
        : base(message, innerException) => Code = code;

    /// <summary>The kind of failure.</summary>
    [Id(0)]
    public CoordinatorErrorCode Code { get; private set; }

    /// <summary>Shorthand for an <see cref="CoordinatorErrorCode.InvalidArgument"/> error.</summary>
    public static CoordinatorException InvalidArgument(string message) => new(CoordinatorErrorCode.InvalidArgument, message);

    /// <summary>Shorthand for a <see cref="CoordinatorErrorCode.NotFound"/> error: "{what} '{id}' does not exist{detail}."</summary>
    public static CoordinatorException NotFound(string what, string id, string? detail = null) =>
        new(CoordinatorErrorCode.NotFound, $"{what} '{id}' does not exist{(detail is null ? "" : $" {detail}")}.");

    /// <summary>Whether the failure is transient, so the same call may be repeated (see <see cref="CoordinatorErrorCode.Unavailable"/>).</summary>
    public bool IsRetryable => Code == CoordinatorErrorCode.Unavailable;

    /// <summary>Shorthand for a <see cref="CoordinatorErrorCode.Unavailable"/> error.</summary>
    public static CoordinatorException Unavailable(string message) => new(CoordinatorErrorCode.Unavailable, message);

    /// <summary>Shorthand for an <see cref="CoordinatorErrorCode.InvalidState"/> error.</summary>
    public static CoordinatorException InvalidState(string message) => new(CoordinatorErrorCode.InvalidState, message);
}
