using System.Runtime.InteropServices;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// The CPU time the calling thread has used (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>): how a handler's
/// slice on a thread tells working from being blocked or descheduled. Elsewhere unsupported, and zero.
/// </summary>
internal static partial class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    /// <summary>Whether this platform has a per-thread CPU clock.</summary>
    public static bool Supported { get; } = OperatingSystem.IsLinux();

    /// <summary>Nanoseconds of CPU this thread has used; 0 where unsupported.</summary>
    public static long Now()
    {
        if (!Supported || clock_gettime(ClockThreadCpuTime, out var time) != 0)
        {
            return 0;
        }

        return (time.Seconds * 1_000_000_000L) + time.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = false)]
    private static partial int clock_gettime(int clock, out TimeSpec time);
}
