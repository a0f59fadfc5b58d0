using System.Diagnostics;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// When one activation was held by a call that lets no other call in (a non-reentrant grain's call that does not
/// interleave): Orleans runs such calls one after another, so a call that had to wait for its turn waited exactly while
/// others held the activation. Kept on the activation (a grain context component); the last few holds are remembered.
/// </summary>
internal sealed class ActivationTurns
{
    private const int Remembered = 32;

    private readonly Lock _lock = new();
    private readonly (long Start, long End)[] _holds = new (long, long)[Remembered];
    private int _count;
    private int _next;
    private long _heldSince = -1;

    /// <summary>The turns of <paramref name="context"/>'s activation, made on first use.</summary>
    public static ActivationTurns Of(IGrainContext context)
    {
        if (context.GetComponent<ActivationTurns>() is { } turns)
        {
            return turns;
        }

        turns = new ActivationTurns();
        context.SetComponent(turns);
        return turns;
    }

    /// <summary>
    /// How long other calls held the activation between <paramref name="sent"/> and <paramref name="now"/> (Stopwatch
    /// timestamps): the time a call sent then and starting now waited for its turn.
    /// </summary>
    public TimeSpan HeldBetween(long sent, long now)
    {
        lock (_lock)
        {
            var held = 0L;
            if (_heldSince >= 0)
            {
                held += now - Math.Max(_heldSince, sent);
            }

            for (var i = 0; i < _count; i++)
            {
                var (start, end) = _holds[(_next - 1 - i + Remembered) % Remembered];
                if (end <= sent)
                {
                    break;
                }

                held += Math.Min(end, now) - Math.Max(start, sent);
            }

            return Stopwatch.GetElapsedTime(0, Math.Max(0, held));
        }
    }

    /// <summary>
    /// Whether a call holds the activation now. A call that starts while one does came in through it (call-chain
    /// reentrancy): it waited for nothing.
    /// </summary>
    public bool IsHeld
    {
        get
        {
            lock (_lock)
            {
                return _heldSince >= 0;
            }
        }
    }

    /// <summary>A call that lets no other in starts holding the activation.</summary>
    public void Hold(long now)
    {
        lock (_lock)
        {
            _heldSince = now;
        }
    }

    /// <summary>That call answered.</summary>
    public void Release(long now)
    {
        lock (_lock)
        {
            if (_heldSince < 0)
            {
                return;
            }

            _holds[_next] = (_heldSince, now);
            _next = (_next + 1) % Remembered;
            _count = Math.Min(_count + 1, Remembered);
            _heldSince = -1;
        }
    }
}
