namespace Coordinator.Contracts.Events;

/// <summary>
/// A hybrid logical clock value: the greatest wall time (Unix milliseconds) a node has seen, from its own clock or
/// from a message, and a counter that orders events within that millisecond. Comparing two values orders two events
/// so that whatever a node sent precedes what the receiver did after it, whatever the skew between their clocks.
/// </summary>
[GenerateSerializer, Immutable]
public readonly record struct HybridTime(
    [property: Id(0)] long WallMilliseconds,
    [property: Id(1)] int Counter) : IComparable<HybridTime>
{
    /// <inheritdoc />
    public int CompareTo(HybridTime other)
    {
        var wall = WallMilliseconds.CompareTo(other.WallMilliseconds);
        return wall != 0 ? wall : Counter.CompareTo(other.Counter);
    }

    /// <summary>Earlier in causal order.</summary>
    public static bool operator <(HybridTime left, HybridTime right) => left.CompareTo(right) < 0;

    /// <summary>Later in causal order.</summary>
    public static bool operator >(HybridTime left, HybridTime right) => left.CompareTo(right) > 0;

    /// <summary>Not later in causal order.</summary>
    public static bool operator <=(HybridTime left, HybridTime right) => left.CompareTo(right) <= 0;

    /// <summary>Not earlier in causal order.</summary>
    public static bool operator >=(HybridTime left, HybridTime right) => left.CompareTo(right) >= 0;

    /// <inheritdoc />
    public override string ToString() => $"{WallMilliseconds}.{Counter}";
}
