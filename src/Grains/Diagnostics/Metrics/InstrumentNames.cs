namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>Names of the grains' instruments, as exported (Prometheus adds the unit, <c>_seconds</c>, and <c>_total</c> to counters).</summary>
internal static class InstrumentNames
{
    /// <summary>Histogram: one attempt to write a grain's state, by state and outcome.</summary>
    public const string StateWriteDuration = "coordinator.grain.state_write.duration";

    /// <summary>Counter: grain calls handled, by grain and method (<c>coordinator_handler_requests_total</c>).</summary>
    public const string HandlerRequests = "coordinator.handler.requests";

    /// <summary>Histogram: a grain call from the start of its turn to its answer, by grain and method (<c>coordinator_handler_request_duration_seconds</c>).</summary>
    public const string HandlerRequestDuration = "coordinator.handler.request_duration";

    /// <summary>Up-down counter: grain calls being handled now, by grain and method (<c>coordinator_handler_inflight_requests</c>).</summary>
    public const string HandlerInflightRequests = "coordinator.handler.inflight_requests";

    /// <summary>Counter: grain calls that failed, by grain, method and error type (<c>coordinator_handler_errors_total</c>).</summary>
    public const string HandlerErrors = "coordinator.handler.errors";

    /// <summary>Counter: grain calls cancelled, by grain and method (<c>coordinator_handler_cancellations_total</c>).</summary>
    public const string HandlerCancellations = "coordinator.handler.cancellations";

    /// <summary>Histogram: from a call's sending to its arrival, by the sender's and this silo's clocks, by grain and method (<c>coordinator_handler_network_transit_seconds</c>).</summary>
    public const string HandlerNetworkTransit = "coordinator.handler.network_transit";

    /// <summary>Histogram: how long a call waited while other calls held its activation, by grain and method (<c>coordinator_handler_queue_wait_seconds</c>).</summary>
    public const string HandlerQueueWait = "coordinator.handler.queue_wait";

    /// <summary>Histogram: a handler's time by phase (on_thread, unmarked, grain_calls, storage, trainer), by grain and method (<c>coordinator_handler_phase_seconds</c>).</summary>
    public const string HandlerPhase = "coordinator.handler.phase";

    /// <summary>Histogram: from an operation's submission until a caller was first told its outcome, by grain, method and operation (<c>coordinator_handler_time_to_first_response_seconds</c>).</summary>
    public const string HandlerTimeToFirstResponse = "coordinator.handler.time_to_first_response";

    /// <summary>Counter: bytes of requests where the size is known, by grain and method (<c>coordinator_handler_request_bytes_total</c>).</summary>
    public const string HandlerRequestBytes = "coordinator.handler.request_bytes";

    /// <summary>Counter: bytes of responses where the size is known, by grain and method (<c>coordinator_handler_response_bytes_total</c>).</summary>
    public const string HandlerResponseBytes = "coordinator.handler.response_bytes";

    /// <summary>Counter: lines for the slow-call file, by kind and outcome (<c>coordinator_slow_calls_total</c>).</summary>
    public const string SlowCalls = "coordinator.slow_calls";

    /// <summary>Observable counter: bytes sent and received by the machine's interfaces other than loopback, by direction (<c>coordinator_node_network_bytes_total</c>).</summary>
    public const string NodeNetworkBytes = "coordinator.node.network_bytes";

    /// <summary>Gauge: bytes free on the disk holding the process's working directory (<c>coordinator_node_disk_free_bytes</c>).</summary>
    public const string NodeDiskFreeBytes = "coordinator.node.disk_free_bytes";

    /// <summary>Gauge: each GPU's utilisation, 0 to 1, by gpu index (<c>coordinator_node_gpu_utilization</c>).</summary>
    public const string NodeGpuUtilization = "coordinator.node.gpu_utilization";

    /// <summary>Gauge: each GPU's memory in use, by gpu index (<c>coordinator_node_gpu_memory_used_bytes</c>).</summary>
    public const string NodeGpuMemoryUsedBytes = "coordinator.node.gpu_memory_used_bytes";

    /// <summary>Gauge: each GPU's memory in all, by gpu index (<c>coordinator_node_gpu_memory_total_bytes</c>).</summary>
    public const string NodeGpuMemoryTotalBytes = "coordinator.node.gpu_memory_total_bytes";
}
