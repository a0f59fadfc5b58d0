using Coordinator.Contracts.Errors;

namespace Coordinator.Contracts.Sessions;

/// <summary>Where a session is in its life.</summary>
public enum SessionStatus
{
    /// <summary>The session does not exist (never created).</summary>
    None = 0,
    /// <summary>Open and heartbeating.</summary>
    Active = 1,
    /// <summary>Closed by its owner.</summary>
    Closed = 2,
    /// <summary>Missed heartbeats for longer than the idle timeout.</summary>
    Expired = 3,
}

/// <summary>Request to open a session.</summary>
/// <param name="OwnerToken">A secret chosen by the client; every later call on the session must present it. Only its hash is stored.</param>
/// <param name="Metadata">Free-form labels (user, purpose, ...).</param>
[GenerateSerializer, Immutable]
public sealed record CreateSessionRequest(
    [property: Id(0)] string OwnerToken,
    [property: Id(1)] IReadOnlyDictionary<string, string>? Metadata = null)
{
    /// <summary>Maximum number of metadata entries.</summary>
    public const int MaxMetadataEntries = 64;

    /// <summary>Throws <see cref="CoordinatorException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        Require.Id(OwnerToken, nameof(OwnerToken));
        if (Metadata is { Count: > MaxMetadataEntries })
        {
            throw CoordinatorException.InvalidArgument($"Metadata may have at most {MaxMetadataEntries} entries (got {Metadata.Count}).");
        }

        foreach (var key in Metadata?.Keys ?? [])
        {
            Require.Id(key, "Metadata key");
        }
    }
}

/// <summary>A session as seen by callers.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionInfo(
    [property: Id(0)] string SessionId,
    [property: Id(1)] SessionStatus Status,
    [property: Id(2)] IReadOnlyDictionary<string, string> Metadata,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] DateTimeOffset LastHeartbeatAt,
    [property: Id(5)] DateTimeOffset ExpiresAt,
    [property: Id(6)] IReadOnlyList<string> ModelIds);
