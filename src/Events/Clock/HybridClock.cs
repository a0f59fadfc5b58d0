using Coordinator.Contracts.Events;

namespace Coordinator.Events.Clock;

/// <summary>
/// A node's hybrid logical clock (Kulkarni et al.): its values follow the wall clock closely, never go back, and a value
/// read after observing another node's value is greater than that one, so events ordered by it respect causality
/// across nodes with skewed clocks. Thread-safe.
/// </summary>
public sealed class HybridClock(TimeProvider time)
{
    private readonly Lock _lock = new();
    private HybridTime _last;

    /// <summary>The value of a local event (or of a message about to be sent).</summary>
    public HybridTime Next() => Next(time.GetUtcNow());

    /// <summary>The value of a local event whose wall time, read from this clock's time provider, is <paramref name="now"/>.</summary>
    public HybridTime Next(DateTimeOffset now)
    {
        var wall = now.ToUnixTimeMilliseconds();
        lock (_lock)
        {
            _last = wall > _last.WallMilliseconds ? new HybridTime(wall, 0) : _last with { Counter = _last.Counter + 1 };
            return _last;
        }
    }

    /// <summary>Takes in a value received from another node; the returned value (that of the receipt) is greater than both.</summary>
    public HybridTime Observe(HybridTime received)
    {
        var wall = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_lock)
        {
            var top = Math.Max(wall, Math.Max(_last.WallMilliseconds, received.WallMilliseconds));
            var counter = (top == _last.WallMilliseconds, top == received.WallMilliseconds) switch
            {
                (true, true) => Math.Max(_last.Counter, received.Counter) + 1,
                (true, false) => _last.Counter + 1,
                (false, true) => received.Counter + 1,
                _ => 0,
            };
            _last = new HybridTime(top, counter);
            return _last;
        }
    }
}
