using Coordinator.Contracts.Models;

namespace Coordinator.Contracts.Sessions;

/// <summary>
/// A client's lease (key: session id). It owns the models created in it and releases them when it is
/// closed or expires. Models are created through the session so calls always flow session -> model.
/// </summary>
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Opens the session. Repeating the call with the same owner token returns the existing session.</summary>
    Task<SessionInfo> CreateAsync(CreateSessionRequest request);

    /// <summary>Extends the session's lease.</summary>
    Task<SessionInfo> HeartbeatAsync(string ownerToken);

    /// <summary>Closes the session and releases its models. Closing a closed session is a no-op.</summary>
    Task<SessionInfo> CloseAsync(string ownerToken);

    /// <summary>Returns the session; expires it first if its lease ran out.</summary>
    Task<SessionInfo> GetAsync();

    /// <summary>Creates a model (LoRA adapter) owned by this session. Repeating the call with the same id and arguments returns the model.</summary>
    Task<ModelInfo> CreateModelAsync(string ownerToken, string modelId, CreateModelRequest request);

    /// <summary>Lists the models of this session.</summary>
    Task<IReadOnlyList<ModelInfo>> ListModelsAsync();
}

/// <summary>
/// Everything one owner token holds (key: hash of the token, never the token itself): its sessions and
/// its live models, so the per-token model limit holds across sessions.
/// </summary>
public interface IOwnerGrain : IGrainWithStringKey
{
    /// <summary>Remembers a session of this owner.</summary>
    Task AddSessionAsync(string sessionId);

    /// <summary>Lists the session ids of this owner, newest last.</summary>
    Task<IReadOnlyList<string>> ListSessionsAsync();

    /// <summary>Counts a model against the owner's limit; returns false if it was already counted.</summary>
    Task<bool> ReserveModelAsync(string modelId);

    /// <summary>Stops counting the given models; unknown ids are ignored.</summary>
    Task ReleaseModelsAsync(IReadOnlyList<string> modelIds);

    /// <summary>Number of live models of this owner.</summary>
    Task<int> GetModelCountAsync();
}
