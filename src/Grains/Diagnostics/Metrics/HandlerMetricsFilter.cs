using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Diagnostics.Latency;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>
/// Measures every grain call this silo handles and splits its time: network transit (the sender's
/// <see cref="CallStamp"/> against this silo's clock), waiting for its turn while other calls held the activation
/// (<see cref="ActivationTurns"/>), and the handler's own time, split by <see cref="CallTimer"/>. Feeds the handler
/// instruments (<see cref="HandlerInstruments"/>), the call's span (when traced) and the slow-call file. Runs inside the
/// error translation, so a failure is counted by its own kind, and inside Orleans' activity filter, so the span is
/// <see cref="Activity.Current"/>. With no meter listening, no slow-call file and no span recorded it only calls on.
/// </summary>
internal sealed class HandlerMetricsFilter(IOptions<DiagnosticsOptions> options, SlowCallLog? slowCalls = null) : IIncomingGrainCallFilter
{
    /// <summary>
    /// Calls of a method read the thread's CPU clock while its slices average at least this long (see
    /// <see cref="HandledMethod"/>): there a slice can be blocked long enough to matter, and two reads cost little beside it.
    /// </summary>
    internal static readonly TimeSpan LongSlice = TimeSpan.FromMilliseconds(1);

    private static readonly ConcurrentDictionary<(Type Grain, MethodInfo Method), HandledMethod> Methods = new();

    private readonly bool _cpuClock = options.Value.MeasureThreadCpu;

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        // Taken whether or not it is used: left in the call's context, the stamp would be sent back with the answer.
        var sent = CallStamp.Take();
        var metrics = HandlerInstruments.Enabled;
        var span = Activity.Current is { IsAllDataRequested: true } current ? current : null;
        if (!metrics && slowCalls is null && span is null)
        {
            await context.Invoke();
            return;
        }

        // Both clocks read at one moment: the wall clock to compare with the sender's stamp, the monotonic one to time the rest.
        var start = Stopwatch.GetTimestamp();
        var now = TimeProvider.System.GetUtcNow();
        var grain = context.Grain?.GetType().Name ?? context.InterfaceName;
        var tags = new TagList { { "grain", grain }, { "method", context.MethodName } };
        var method = Method(context);
        var turns = method is { Exclusive: true } ? ActivationTurns.Of(context.TargetContext) : null;
        if (turns is { IsHeld: true })
        {
            // Call-chain reentrancy: this call came in through the one holding the activation and waited for nothing.
            turns = null;
        }

        var (transit, queue) = Arrival(sent, start, now, turns);
        turns?.Hold(start);
        var timer = CallTimer.Start(start, sent, _cpuClock && (method is null || method.ReadsCpu));
        var counts = metrics ? method?.Counts ?? HandlerInstruments.CountsOf(grain, context.MethodName) : null;
        if (counts is not null)
        {
            HandlerInstruments.Started(counts);
        }

        Exception? error = null;
        try
        {
            await context.Invoke();
        }
        catch (Exception ex)
        {
            error = ex;
            throw;
        }
        finally
        {
            var time = timer.Stop();
            turns?.Release(Stopwatch.GetTimestamp());
            method?.Ran(time.LongestSlice);
            if (counts is not null)
            {
                HandlerInstruments.Finished(counts, tags, time, transit, queue, error);
            }

            span?.SetTag("coordinator.transit_ms", transit is { } t ? Ms(t) : (double?)null)
                .SetTag("coordinator.queue_ms", queue is { } q ? Ms(q) : (double?)null)
                .SetTag("coordinator.on_thread_ms", Ms(time.OnThread))
                .SetTag("coordinator.cpu_ms", time.Cpu is { } cpu ? Ms(cpu) : (double?)null)
                .SetTag("coordinator.run_queue_ms", time.RunQueue is { } waited ? Ms(waited) : (double?)null)
                .SetTag("coordinator.unmarked_ms", Ms(time.Unmarked))
                .SetTag("coordinator.grain_calls_ms", Ms(time.GrainCalls))
                .SetTag("coordinator.storage_ms", Ms(time.Storage))
                .SetTag("coordinator.trainer_ms", Ms(time.Trainer));
            slowCalls?.Call(grain, context.MethodName, span?.TraceId.ToHexString(), error is null ? null : HandlerInstruments.ErrorType(error), transit, queue, time);
        }
    }

    /// <summary>
    /// Splits the time from the call's sending to now (the start of its turn): the part while other calls held the
    /// activation is its queue wait, the rest transit (on the wire, and waiting for a thread here). Clocks of two
    /// machines may disagree: a stamp from the future counts as no time. With no stamp both are unknown: the queue wait
    /// is counted back from the sending, and when the call arrived is not known either.
    /// </summary>
    internal static (TimeSpan? Transit, TimeSpan? Queue) Arrival(DateTimeOffset? sent, long start, DateTimeOffset now, ActivationTurns? turns)
    {
        if (sent is null)
        {
            return (null, null);
        }

        var since = now - sent.Value;
        if (since < TimeSpan.Zero)
        {
            since = TimeSpan.Zero;
        }

        var queue = turns?.HeldBetween(start - (long)(since.TotalSeconds * Stopwatch.Frequency), start) ?? TimeSpan.Zero;
        return (since - queue, queue);
    }

    /// <summary>What this silo knows of the called method; null where the call names no grain or method.</summary>
    private static HandledMethod? Method(IIncomingGrainCallContext context)
    {
        if (context.Grain is null || context.InterfaceMethod is null)
        {
            return null;
        }

        return Methods.GetOrAdd((context.Grain.GetType(), context.InterfaceMethod), static (key, name) => new HandledMethod(
            !key.Grain.IsDefined(typeof(ReentrantAttribute), inherit: true)
            && !key.Method.IsDefined(typeof(AlwaysInterleaveAttribute), inherit: true),
            HandlerInstruments.CountsOf(key.Grain.Name, name)), context.MethodName);
    }

    private static double Ms(TimeSpan time) => Math.Round(time.TotalMilliseconds, 3);
}
