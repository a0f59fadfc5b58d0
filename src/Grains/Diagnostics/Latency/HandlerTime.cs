namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// How one grain call's handler spent its time (see <see cref="CallTimer"/>): <see cref="OnThread"/>,
/// <see cref="Unmarked"/> and the three waits make <see cref="Duration"/>.
/// </summary>
/// <param name="Duration">From the start of the call's turn to its answer.</param>
/// <param name="OnThread">The handler's own slices that began and ended on one thread: running, blocked, or descheduled.</param>
/// <param name="LongestSlice">The longest of those slices: how long the handler held a thread at most.</param>
/// <param name="Cpu">CPU used in those slices; null where the platform cannot tell.</param>
/// <param name="RunQueue">
/// Of those slices, time the thread was ready to run but waited for a core (capped at what a slice leaves after its
/// CPU time); null where the platform cannot tell. What is left of them after CPU and this, the thread was blocked.
/// </param>
/// <param name="Unmarked">Slices that ended on another thread: the handler awaited something not marked.</param>
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
    TimeSpan? RunQueue,
    TimeSpan Unmarked,
    TimeSpan GrainCalls,
    TimeSpan Storage,
    TimeSpan Trainer,
    TimeSpan TrainerQueue,
    TimeSpan TrainerCompute);
