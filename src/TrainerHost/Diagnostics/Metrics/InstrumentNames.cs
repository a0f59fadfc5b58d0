namespace Coordinator.TrainerHost.Diagnostics.Metrics;

/// <summary>Names of the trainer host's instruments, as exported (Prometheus adds the unit, <c>_seconds</c>, and <c>_total</c> to counters).</summary>
internal static class InstrumentNames
{
    /// <summary>
    /// Histogram: where an operation's time on the trainer went, by operation kind and phase: <c>transit</c> (from its
    /// sending by the model grain to its arrival, when stamped), <c>sequence</c> (from its
    /// arrival until the adapter's earlier operations let it start), <c>queue</c> (waiting for the device thread),
    /// <c>compute</c> (on the device) (<c>coordinator_trainer_operation_seconds</c>).
    /// </summary>
    public const string OperationDuration = "coordinator.trainer.operation";

    /// <summary>Gauge: operations waiting for the device thread (<c>coordinator_trainer_device_queue_depth</c>).</summary>
    public const string DeviceQueueDepth = "coordinator.trainer.device_queue_depth";

    /// <summary>Counter: optimizer steps applied, over every adapter (<c>coordinator_trainer_optim_steps_total</c>).</summary>
    public const string OptimSteps = "coordinator.trainer.optim_steps";

    /// <summary>
    /// Gauge: the loss of the last forward pass of each model's adapter on this trainer, by <c>model</c>; a model leaves
    /// when its adapter is unloaded (<c>coordinator_trainer_loss</c>).
    /// </summary>
    public const string Loss = "coordinator.trainer.loss";

    /// <summary>Gauge: the gradient norm of each model's last optimizer step on this trainer, by <c>model</c> (<c>coordinator_trainer_grad_norm</c>).</summary>
    public const string GradNorm = "coordinator.trainer.grad_norm";
}
