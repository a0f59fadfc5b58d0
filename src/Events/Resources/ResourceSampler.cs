using System.Diagnostics;
using System.Globalization;
using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Events.Resources;

/// <summary>
/// Records a <see cref="ResourceSnapshot"/> of this node every period: the process's CPU share and working set, the
/// machine's network counters (Linux: <c>/proc/net/dev</c>, loopback excluded) and the disk space free under
/// <paramref name="directory"/>. GPU fields stay null: no GPU probe yet.
/// </summary>
public sealed class ResourceSampler(IRunEvents events, TimeProvider time, TimeSpan period, string directory) : BackgroundService
{
    // Made at construction, so periods count from then (the host starts ExecuteAsync on a thread of its own, later).
    private readonly PeriodicTimer _timer = new(period, time);
    private TimeSpan _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private long _lastAt = time.GetTimestamp();

    /// <summary>Takes a snapshot now and records it.</summary>
    public void Sample()
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var now = time.GetTimestamp();
        var wall = time.GetElapsedTime(_lastAt, now);
        var share = wall > TimeSpan.Zero ? Math.Clamp((cpu - _lastCpu) / (wall * Environment.ProcessorCount), 0, 1) : 0;
        (_lastCpu, _lastAt) = (cpu, now);
        var (sent, received) = NetworkCounters();
        events.Emit(new ResourceSnapshot(share, process.WorkingSet64, null, null, sent, received, FreeDisk()));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _timer.WaitForNextTickAsync(stoppingToken))
            {
                Sample();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public override void Dispose()
    {
        _timer.Dispose();
        base.Dispose();
    }

    private long FreeDisk()
    {
        var full = Path.GetFullPath(directory);
        var root = Path.GetPathRoot(full) ?? "/";
        var best = DriveInfo.GetDrives().Where(d => d.IsReady && full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
            .MaxBy(d => d.RootDirectory.FullName.Length);
        return (best ?? new DriveInfo(root)).AvailableFreeSpace;
    }

    /// <summary>Bytes sent and received by the machine's interfaces other than loopback; null where /proc/net/dev is absent.</summary>
    internal static (long? Sent, long? Received) NetworkCounters(string path = "/proc/net/dev")
    {
        if (!File.Exists(path))
        {
            return (null, null);
        }

        var (sent, received) = (0L, 0L);
        foreach (var line in File.ReadLines(path).Skip(2))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || line[..colon].Trim() == "lo")
            {
                continue;
            }

            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            received += long.Parse(fields[0], CultureInfo.InvariantCulture);
            sent += long.Parse(fields[8], CultureInfo.InvariantCulture);
        }

        return (sent, received);
    }
}
