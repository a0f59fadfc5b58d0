using Coordinator.Contracts.Telemetry;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// Stamps every grain call this silo sends (<see cref="CallStamp"/>; unless <paramref name="stamp"/> is false) and, when
/// it is sent by a handler being timed,
/// charges the wait to that handler (<see cref="CallTimer"/>): a call to a trainer grain as trainer time (with the device
/// timing its result reports), any other as grain calls.
/// </summary>
internal sealed class AwaitedCallFilter(bool stamp) : IOutgoingGrainCallFilter
{
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        if (stamp)
        {
            CallStamp.Stamp(TimeProvider.System.GetUtcNow());
        }

        if (CallTimer.Current is not { } timer)
        {
            await context.Invoke();
            return;
        }

        var what = context.InterfaceMethod?.DeclaringType == typeof(ITrainerGrain) ? Awaited.Trainer : Awaited.GrainCalls;
        timer.Enter(what);
        try
        {
            await context.Invoke();
        }
        finally
        {
            timer.Leave(what);
        }

        if (context.Result is OperationOutput { Timing: { } timing })
        {
            timer.AddTrainerTiming(timing.QueueTime, timing.ComputeTime);
        }
    }
}
