using System.Globalization;

namespace Coordinator.Events.Resources;

/// <summary>
/// Readings of the machine a node runs on, shared by the run events' resource snapshots and the node's metrics, so both
/// say the same thing.
/// </summary>
public static class ResourceReadings
{
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
}
