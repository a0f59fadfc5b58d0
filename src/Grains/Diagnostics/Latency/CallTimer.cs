using System.Diagnostics;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>What a grain call's handler can be waiting on, besides its own thread.</summary>
public enum Awaited
{
    /// <summary>Calls to other grains (not trainers).</summary>
    GrainCalls = 0,

    /// <summary>Reading or writing grain state.</summary>
    Storage = 1,

    /// <summary>A trainer: calls to trainer grains, and operation outcomes a handler waits for.</summary>
    Trainer = 2,
}

/// <summary>
/// Splits the time of one grain call's handler (from the start of its turn to its answer) into the time it waited on
/// other grains, storage and trainers, and the rest: its own slices. <see cref="Enter"/> and <see cref="Leave"/> mark
/// each wait (the outgoing call filter marks grain calls, <see cref="Storage.StateWriter{T}"/> storage writes). Waits
/// that overlap count once, for the one that explains most (trainer, then storage, then grain calls). A slice that
/// starts and ends on one thread is time on that thread, with its CPU time; a slice that ends on another thread awaited
/// something not marked (Orleans' own calls, a timer, a lock) and counts as such. Flows with the handler's execution context
/// (<see cref="Current"/>); a call the handler sends and does not await must be sent <see cref="Detach">detached</see>,
/// or its wait would be charged to the handler.
/// </summary>
public sealed class CallTimer
{
    private static readonly AsyncLocal<CallTimer?> CurrentTimer = new();

    private readonly Lock _lock = new();
    private readonly long _start;
    private readonly long[] _waited = new long[3];
    private readonly int[] _outstanding = new int[3];
    private long _mark;
    private long _markCpu;
    private long _markRunQueue;
    private int _markThread;
    private long _onThread;
    private long _longestSlice;
    private long _unmarked;
    private long _cpu;
    private long _runQueue;
    private bool _ended;
    private TimeSpan _trainerQueue;
    private TimeSpan _trainerCompute;

    private readonly bool _cpuClock;

    private CallTimer(long start, DateTimeOffset? sent, bool cpuClock)
    {
        _start = start;
        Sent = sent;
        _mark = start;
        _cpuClock = cpuClock;
        _markThread = Environment.CurrentManagedThreadId;
        (_markCpu, _markRunQueue) = ClocksNow();
    }

    /// <summary>The timer of the call whose handler runs in this execution context; null outside one.</summary>
    public static CallTimer? Current => CurrentTimer.Value;

    /// <summary>When the call was sent, by its sender's <see cref="Contracts.Telemetry.CallStamp"/>; null when not stamped.</summary>
    public DateTimeOffset? Sent { get; }

    /// <summary>
    /// Starts timing the handler about to run in this execution context; <paramref name="start"/> is a Stopwatch
    /// timestamp, <paramref name="sent"/> the call's stamp. <paramref name="cpuClock"/>: read the thread's CPU clock
    /// and its time waiting for a core (see <see cref="ThreadCpu"/>).
    /// </summary>
    internal static CallTimer Start(long start, DateTimeOffset? sent, bool cpuClock)
    {
        var timer = new CallTimer(start, sent, cpuClock);
        CurrentTimer.Value = timer;
        return timer;
    }

    /// <summary>Until disposed, calls sent from this execution context are not charged to the handler (they are not awaited by it).</summary>
    public static Detached Detach()
    {
        var saved = CurrentTimer.Value;
        CurrentTimer.Value = null;
        return new Detached(saved);
    }

    /// <summary>Runs and awaits <paramref name="wait"/>, charging the time to the current handler (if any) as <paramref name="what"/>.</summary>
    public static async Task Charge(Awaited what, Func<Task> wait)
    {
        var timer = Current;
        timer?.Enter(what);
        try
        {
            await wait();
        }
        finally
        {
            timer?.Leave(what);
        }
    }

    /// <summary>The handler starts waiting on <paramref name="what"/>.</summary>
    public void Enter(Awaited what)
    {
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }

            var now = CloseSlice();
            _outstanding[(int)what]++;
            Mark(now);
        }
    }

    /// <summary>The handler's wait on <paramref name="what"/> ended (it runs on from here).</summary>
    public void Leave(Awaited what)
    {
        lock (_lock)
        {
            if (_ended || _outstanding[(int)what] == 0)
            {
                return;
            }

            var now = CloseSlice();
            _outstanding[(int)what]--;
            Mark(now);
        }
    }

    /// <summary>A trainer reported how long an operation this handler waited for queued and computed on its device.</summary>
    public void AddTrainerTiming(TimeSpan queue, TimeSpan compute)
    {
        lock (_lock)
        {
            _trainerQueue += queue;
            _trainerCompute += compute;
        }
    }

    /// <summary>The handler answered: the split of its time, from its start to now.</summary>
    internal HandlerTime Stop()
    {
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            if (!_ended)
            {
                now = CloseSlice();
                _ended = true;
            }

            return new HandlerTime(
                Stopwatch.GetElapsedTime(_start, now),
                Ticks(_onThread),
                Ticks(_longestSlice),
                _cpuClock && ThreadCpu.Supported ? TimeSpan.FromTicks(_cpu / 100) : null,
                _cpuClock && ThreadCpu.RunQueueSupported ? TimeSpan.FromTicks(_runQueue / 100) : null,
                Ticks(_unmarked),
                Ticks(_waited[(int)Awaited.GrainCalls]),
                Ticks(_waited[(int)Awaited.Storage]),
                Ticks(_waited[(int)Awaited.Trainer]),
                _trainerQueue,
                _trainerCompute);
        }
    }

    private static TimeSpan Ticks(long stopwatchTicks) => Stopwatch.GetElapsedTime(0, stopwatchTicks);

    private bool Waiting => _outstanding[0] + _outstanding[1] + _outstanding[2] > 0;

    // A slice of the handler's own starts here when nothing is awaited: note the thread and its clocks.
    private void Mark(long now)
    {
        _mark = now;
        if (!Waiting)
        {
            _markThread = Environment.CurrentManagedThreadId;
            (_markCpu, _markRunQueue) = ClocksNow();
        }
    }

    private (long Cpu, long RunQueue) ClocksNow() => _cpuClock ? (ThreadCpu.Now(), ThreadCpu.RunQueueNow()) : (0, 0);

    // Ends the slice that began at the last mark, charges it, and returns when it ended (a Stopwatch timestamp). A slice
    // on one thread reads the thread's clocks before the wall clock, so they measure within the slice (read after, a
    // preemption in between would lengthen them and not the slice).
    private long CloseSlice()
    {
        var onThread = !Waiting && Environment.CurrentManagedThreadId == _markThread;
        var (cpu, runQueue) = onThread ? ClocksNow() : default;
        var now = Stopwatch.GetTimestamp();
        var length = now - _mark;
        if (_outstanding[(int)Awaited.Trainer] > 0)
        {
            _waited[(int)Awaited.Trainer] += length;
        }
        else if (_outstanding[(int)Awaited.Storage] > 0)
        {
            _waited[(int)Awaited.Storage] += length;
        }
        else if (_outstanding[(int)Awaited.GrainCalls] > 0)
        {
            _waited[(int)Awaited.GrainCalls] += length;
        }
        else if (onThread)
        {
            _onThread += length;
            _longestSlice = Math.Max(_longestSlice, length);
            var used = cpu - _markCpu;
            _cpu += used;

            // The kernel times a wait for a core with the clock of each core, and on a virtual machine those can disagree
            // by milliseconds: a wait is capped at what the slice leaves after its CPU time.
            var left = Math.Max(0, (long)Stopwatch.GetElapsedTime(0, length).TotalNanoseconds - used);
            _runQueue += runQueue < 0 || _markRunQueue < 0 ? 0 : Math.Clamp(runQueue - _markRunQueue, 0, left);
        }
        else
        {
            _unmarked += length;
        }

        return now;
    }

    /// <summary>Restores the timer <see cref="Detach"/> took away.</summary>
    public readonly struct Detached(CallTimer? saved) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => CurrentTimer.Value = saved;
    }
}
