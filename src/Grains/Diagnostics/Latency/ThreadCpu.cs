using System.Buffers.Text;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// The CPU time the calling thread has used (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>) and the time it was
/// ready to run but waited for a core (the scheduler's run delay, <c>/proc/thread-self/schedstat</c>): how a handler's
/// slice on a thread tells working from being descheduled from being blocked. Where the C library, the clock or the
/// file cannot be found, unsupported: zero, and no figure is reported.
/// </summary>
internal static unsafe class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;
    private const string SchedulerStats = "/proc/thread-self/schedstat";

    // Opened once per thread (the path names the thread that opens it) and read again from its start: one system call a read.
    [ThreadStatic]
    private static SafeFileHandle? t_schedulerStats;

    // Looked up once: glibc's soname first (a bare "libc.so" is a linker script on most distributions), then "libc".
    private static readonly delegate* unmanaged<int, TimeSpec*, int> ClockGetTime = Find();

    /// <summary>Whether this platform has a per-thread CPU clock that answered.</summary>
    public static bool Supported { get; } = ClockGetTime is not null && Read() >= 0;

    /// <summary>Nanoseconds of CPU this thread has used; 0 where unsupported.</summary>
    public static long Now() => Supported ? Read() : 0;

    /// <summary>Whether this platform tells how long a thread waited for a core.</summary>
    public static bool RunQueueSupported { get; } = OperatingSystem.IsLinux() && ReadRunQueue() >= 0;

    /// <summary>
    /// Nanoseconds this thread has spent ready to run but waiting for a core (more runnable threads than cores); 0 where
    /// unsupported, -1 where this thread's file could not be read. Counted when the thread gets a core, so a read on the
    /// running thread includes every wait before it.
    /// </summary>
    public static long RunQueueNow() => RunQueueSupported ? ReadRunQueue() : 0;

    private static long Read()
    {
        TimeSpec time;
        return ClockGetTime(ClockThreadCpuTime, &time) == 0 ? (time.Seconds * 1_000_000_000L) + time.Nanoseconds : -1;
    }

    // The file is "<ns on a CPU> <ns waiting on a run queue> <slices>"; -1 when it cannot be read or parsed.
    private static long ReadRunQueue()
    {
        try
        {
            var file = t_schedulerStats ??= File.OpenHandle(SchedulerStats);
            Span<byte> text = stackalloc byte[96];
            text = text[..RandomAccess.Read(file, text, 0)];
            var space = text.IndexOf((byte)' ');
            return space >= 0 && Utf8Parser.TryParse(text[(space + 1)..], out long waited, out _) ? waited : -1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return -1;
        }
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
