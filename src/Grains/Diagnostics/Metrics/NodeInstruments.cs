using System.Diagnostics.Metrics;
using Coordinator.Contracts.Telemetry;
using Coordinator.Events.Resources;

namespace Coordinator.Grains.Diagnostics.Metrics;

/// <summary>
/// The node's machine as metrics, read when scraped, from the same readings as the run events' resource snapshots
/// (<see cref="ResourceReadings"/>): network bytes of the interfaces other than loopback, disk space free where the
/// process works, and each GPU's utilisation and memory (nvidia-smi, read at most every 5 s). The process's own CPU and memory come from the .NET runtime meter
/// (<c>dotnet_process_cpu_time_seconds_total</c>, <c>dotnet_process_memory_working_set_bytes</c>).
/// </summary>
internal static class NodeInstruments
{
    private static readonly Meter Meter = new(CoordinatorTelemetry.MeterName);
    private static int _created;

    /// <summary>Creates the instruments, once per process.</summary>
    public static void Create()
    {
        if (Interlocked.Exchange(ref _created, 1) == 1)
        {
            return;
        }

        Meter.CreateObservableCounter(InstrumentNames.NodeNetworkBytes, Network, null, "Bytes the machine's interfaces other than loopback sent and received, by direction.");
        Meter.CreateObservableGauge(InstrumentNames.NodeDiskFreeBytes, () => ResourceReadings.FreeDisk(Environment.CurrentDirectory), null,
            "Bytes free on the disk that holds the process's working directory (its state, events and slow-call files by default).");
        Meter.CreateObservableGauge(InstrumentNames.NodeGpuUtilization, () => Gpus(g => g.Utilization), null,
            "Utilisation of each of the machine's GPUs (0 to 1), by gpu index; absent without nvidia-smi.");
        Meter.CreateObservableGauge(InstrumentNames.NodeGpuMemoryUsedBytes, () => Gpus(g => g.MemoryUsedBytes), null, "GPU memory in use, by gpu index.");
        Meter.CreateObservableGauge(InstrumentNames.NodeGpuMemoryTotalBytes, () => Gpus(g => g.MemoryTotalBytes), null, "GPU memory in all, by gpu index.");
    }

    private static IEnumerable<Measurement<T>> Gpus<T>(Func<GpuReading, T> value)
        where T : struct =>
        ResourceReadings.Gpus().Select(g => new Measurement<T>(value(g), new KeyValuePair<string, object?>("gpu", g.Index.ToString(System.Globalization.CultureInfo.InvariantCulture))));

    private static IEnumerable<Measurement<long>> Network()
    {
        var (sent, received) = ResourceReadings.NetworkCounters();
        if (sent is { } s && received is { } r)
        {
            yield return new Measurement<long>(s, new KeyValuePair<string, object?>("direction", "sent"));
            yield return new Measurement<long>(r, new KeyValuePair<string, object?>("direction", "received"));
        }
    }
}
