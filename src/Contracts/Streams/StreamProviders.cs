namespace Coordinator.Contracts.Streams;

/// <summary>Names of the Orleans stream providers every silo registers.</summary>
public static class StreamProviders
{
    /// <summary>The provider that carries run events.</summary>
    public const string Events = "events";

    /// <summary>The storage Orleans keeps stream subscriptions in.</summary>
    public const string PubSubStore = "PubSubStore";
}
