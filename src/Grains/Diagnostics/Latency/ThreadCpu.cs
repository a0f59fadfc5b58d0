using System.Runtime.InteropServices;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// The CPU time the calling thread has used (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>): how a handler's
/// slice on a thread tells working from being blocked or descheduled. Where the C library or the clock cannot be
/// found, unsupported: zero, and no CPU figure is reported.
/// </summary>
internal static unsafe class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    // Looked up once: glibc's soname first (a bare "libc.so" is a linker script on most distributions), then "libc".
    private static readonly delegate* unmanaged<int, TimeSpec*, int> ClockGetTime = Find();

    /// <summary>Whether this platform has a per-thread CPU clock that answered.</summary>
    public static bool Supported { get; } = ClockGetTime is not null && Read() >= 0;

    /// <summary>Nanoseconds of CPU this thread has used; 0 where unsupported.</summary>
    public static long Now() => Supported ? Read() : 0;

    private static long Read()
    {
        TimeSpec time;
        return ClockGetTime(ClockThreadCpuTime, &time) == 0 ? (time.Seconds * 1_000_000_000L) + time.Nanoseconds : -1;
    }

    private static delegate* unmanaged<int, TimeSpec*, int> Find()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        foreach (var name in (string[])["libc.so.6", "libc"])
        {
            if (NativeLibrary.TryLoad(name, out var library) && NativeLibrary.TryGetExport(library, "clock_gettime", out var export))
            {
                return (delegate* unmanaged<int, TimeSpec*, int>)export;
            }
        }

        return null;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
