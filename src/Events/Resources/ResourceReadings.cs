using System.Diagnostics;
using System.Globalization;

namespace Coordinator.Events.Resources;

/// <summary>
/// Readings of the machine a node runs on, shared by the run events' resource snapshots and the node's metrics, so both
/// say the same thing.
/// </summary>
public static class ResourceReadings
{
    /// <summary>How long one GPU reading serves: a reading starts a process, and scrapes and snapshots may come often.</summary>
    public static readonly TimeSpan GpuReadingAge = TimeSpan.FromSeconds(5);

    private static readonly Lock GpuLock = new();
    private static IReadOnlyList<GpuReading> _gpus = [];
    private static long? _gpusAt;
    private static Task? _gpuQuery;

    /// <summary>Bytes free on the disk that holds <paramref name="directory"/> (the longest mount point containing it).</summary>
    public static long FreeDisk(string directory)
    {
        var full = Path.GetFullPath(directory);
        var root = Path.GetPathRoot(full) ?? "/";
        var best = DriveInfo.GetDrives().Where(d => d.IsReady && full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
            .MaxBy(d => d.RootDirectory.FullName.Length);
        return (best ?? new DriveInfo(root)).AvailableFreeSpace;
    }

    /// <summary>Bytes sent and received by the machine's interfaces other than loopback; null where /proc/net/dev is absent.</summary>
    public static (long? Sent, long? Received) NetworkCounters(string path = "/proc/net/dev")
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

    /// <summary>
    /// The machine's NVIDIA GPUs as <c>nvidia-smi</c> reports them: the last reading, at once. A reading older than
    /// <see cref="GpuReadingAge"/> is refreshed in the background, never on the caller's thread (scrapes call this), and
    /// never while the last query still runs. Empty where nvidia-smi is not on PATH (no GPU, or a container without the
    /// NVIDIA runtime) or fails; after a query that did not answer in 2 s (a hung driver), none is tried for 5 minutes.
    /// </summary>
    public static IReadOnlyList<GpuReading> Gpus()
    {
        lock (GpuLock)
        {
            var now = Environment.TickCount64;
            if ((_gpusAt is not { } at || now - at >= GpuReadingAge.TotalMilliseconds) && _gpuQuery is null or { IsCompleted: true })
            {
                _gpusAt = now;
                _gpuQuery = Task.Run(RefreshGpus);
            }

            return _gpus;
        }
    }

    private static void RefreshGpus()
    {
        var timeout = TimeSpan.FromSeconds(2);
        var started = Stopwatch.GetTimestamp();
        var read = Find("nvidia-smi") is { } executable ? QueryGpus(executable, timeout) : [];
        var late = Stopwatch.GetElapsedTime(started) >= timeout;
        lock (GpuLock)
        {
            _gpus = read;
            if (late)
            {
                _gpusAt = Environment.TickCount64 + (long)TimeSpan.FromMinutes(5).TotalMilliseconds;
            }
        }
    }

    /// <summary>Runs <paramref name="executable"/> (nvidia-smi) for utilisation and memory of each GPU; empty if it fails or is late.</summary>
    public static IReadOnlyList<GpuReading> QueryGpus(string executable, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--query-gpu=index,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"])
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start);
            if (process is null)
            {
                return [];
            }

            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            var started = Stopwatch.GetTimestamp();
            if (!process.WaitForExit(timeout) || !output.Wait(timeout - Stopwatch.GetElapsedTime(started) is { Ticks: > 0 } left ? left : TimeSpan.Zero))
            {
                process.Kill(entireProcessTree: true);
                return [];
            }

            return process.ExitCode == 0 ? ParseGpus(output.Result) : [];
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return [];
        }
    }

    /// <summary>
    /// Reads nvidia-smi's <c>index, utilization.gpu, memory.used, memory.total</c> lines (CSV, no header, no units: percent
    /// and MiB). A GPU whose values it does not report (<c>[N/A]</c>) is left out.
    /// </summary>
    public static IReadOnlyList<GpuReading> ParseGpus(string csv)
    {
        ArgumentNullException.ThrowIfNull(csv);
        var gpus = new List<GpuReading>();
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(',', StringSplitOptions.TrimEntries);
            if (fields.Length == 4
                && int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)
                && double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent)
                && long.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var usedMiB)
                && long.TryParse(fields[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out var totalMiB))
            {
                gpus.Add(new GpuReading(index, percent / 100, usedMiB << 20, totalMiB << 20));
            }
        }

        return gpus;
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name)).FirstOrDefault(File.Exists);
}

/// <summary>One GPU: its index, utilisation (0 to 1 over nvidia-smi's last sample period), and memory used and in all, in bytes.</summary>
public readonly record struct GpuReading(int Index, double Utilization, long MemoryUsedBytes, long MemoryTotalBytes);
