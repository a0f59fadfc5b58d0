using System.Text.Json;
using Coordinator.Grains.Diagnostics.Latency;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordinator.Silo.Tests;

/// <summary>
/// The thread-pool canary writes a real stall (every pool thread blocked) to the slow-call file, and the silo binary's
/// <c>diagnose</c> verb flags it, in text and JSON; a path without slow-call files is refused, naming it.
/// </summary>
public sealed class DiagnoseTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-diagnose-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task An_injected_scheduler_stall_is_written_by_the_canary_and_flagged_by_diagnose()
    {
        var log = new SlowCallLog(_directory, "stalled-node", TimeSpan.FromSeconds(1), 3, 1 << 20, TimeProvider.System, NullLogger<SlowCallLog>.Instance);
        var canary = new SchedulerCanary(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(5), log);
        await log.StartAsync(CancellationToken.None);
        await canary.StartAsync(CancellationToken.None);

        // Block every pool thread, with more work queued behind than the pool adds threads in the meantime: the canary's
        // next work item waits until the test lets go. The time passing is the stall being measured. Whether the pool
        // stalled is read from the file the canary writes: in full runs of this process (other tests blocking and
        // unblocking pool threads) it twice did not (once in a fresh CI run), so a stall that did not happen is
        // injected again, a few times at most.
        var attempts = 0;
        for (var stalled = false; !stalled && attempts < 5; attempts++)
        {
            using var release = new ManualResetEventSlim();
            for (var i = ThreadPool.ThreadCount + 1024; i > 0; i--)
            {
                ThreadPool.UnsafeQueueUserWorkItem(static r => r.Wait(), release, preferLocal: false);
            }

            Thread.Sleep(200);
            release.Set();
            stalled = await StallWrittenAsync(TimeSpan.FromSeconds(5));
        }

        await canary.StopAsync(CancellationToken.None);
        await log.StopAsync(CancellationToken.None);
        canary.Dispose();

        var (exit, output, _) = await SiloCli.RunAsync("diagnose", "--file", _directory);
        var written = string.Join("\n", Directory.EnumerateFiles(_directory, "*.jsonl", SearchOption.AllDirectories).Select(File.ReadAllText));
        Assert.True(exit == 1, $"diagnose exited {exit} after {attempts} injected stalls (pool threads now {ThreadPool.ThreadCount}): {output}\nfile: {written}");
        Assert.Contains("[critical] scheduler_stall", output, StringComparison.Ordinal);
        Assert.Contains("on stalled-node", output, StringComparison.Ordinal);

        (exit, output, _) = await SiloCli.RunAsync("diagnose", "--file", _directory, "--json");
        using var json = JsonDocument.Parse(output);
        var stall = json.RootElement.GetProperty("flags").EnumerateArray().Single(f => f.GetProperty("rule").GetString() == "scheduler_stall");
        Assert.True(stall.GetProperty("worst_ms").GetDouble() > 100, $"worst stall {stall.GetProperty("worst_ms").GetDouble()} ms");
        Assert.Equal(1, exit);
    }

    /// <summary>Whether the canary wrote a stall over 100 ms, waiting up to <paramref name="timeout"/> for its line.</summary>
    private async Task<bool> StallWrittenAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Directory.EnumerateFiles(_directory, "*.jsonl", SearchOption.AllDirectories).Any()
                && SlowCallDiagnosis.Read(_directory).Lines.Any(l => l.Kind == "stall" && l.Delay > 100))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    [Fact]
    public async Task Diagnose_without_slow_call_files_names_the_path_it_read()
    {
        var (exit, _, error) = await SiloCli.RunAsync("diagnose", "--file", _directory);

        Assert.Equal(7, exit);
        Assert.Contains(_directory, error, StringComparison.Ordinal);
    }
}
