using Coordinator.Contracts.Events;

namespace Coordinator.Events.Emitting;

/// <summary>Records the facts of a run on this node (see <see cref="EventEmitter"/>). Emitting never blocks.</summary>
public interface IRunEvents
{
    /// <summary>Records a fact about what <paramref name="tags"/> name.</summary>
    void Emit(RunEventBody body, EventTags? tags = null);
}

/// <summary>No event recording (<c>Events:Enabled</c> false, or a host that did not add events): facts are dropped.</summary>
public sealed class NoRunEvents : IRunEvents
{
    /// <summary>The instance.</summary>
    public static readonly NoRunEvents Instance = new();

    private NoRunEvents()
    {
    }

    /// <inheritdoc />
    public void Emit(RunEventBody body, EventTags? tags = null)
    {
    }
}
