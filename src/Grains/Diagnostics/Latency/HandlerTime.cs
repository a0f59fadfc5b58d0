namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// How one grain call's handler spent its time (see <see cref="CallTimer"/>): <see cref="OnThread"/> plus the three waits
/// make <see cref="Duration"/>.
/// </summary>
/// <param name="Duration">From the start of the call's turn to its answer.</param>
/// <param name="OnThread">The handler's own slices: running on a thread, or awaiting something not marked.</param>
/// <param name="LongestSlice">The longest of those slices: how long the handler held a thread at most.</param>
/// <param name="Cpu">CPU used in the slices that stayed on one thread; null where the platform cannot tell.</param>
/// <param name="CpuPartial">Some slice crossed threads, so its CPU is not in <paramref name="Cpu"/>.</param>
/// <param name="GrainCalls">Waiting on calls to other grains.</param>
/// <param name="Storage">Waiting on grain state writes.</param>
/// <param name="Trainer">Waiting on trainers: calls to them, and outcomes of their operations.</param>
/// <param name="TrainerQueue">Of the operations this call waited for: time queued on the trainer's device.</param>
/// <param name="TrainerCompute">Of the operations this call waited for: time computing on the trainer's device.</param>
internal readonly record struct HandlerTime(
    TimeSpan Duration,
    TimeSpan OnThread,
    TimeSpan LongestSlice,
    TimeSpan? Cpu,
    bool CpuPartial,
    TimeSpan GrainCalls,
    TimeSpan Storage,
    TimeSpan Trainer,
    TimeSpan TrainerQueue,
    TimeSpan TrainerCompute);
