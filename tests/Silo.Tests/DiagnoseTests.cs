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
        // next work item waits until the test lets go. The time passing is the stall being measured. The backlog is deep
        // because other tests of this process may block pool threads on tasks (.Wait), which makes the pool add threads
        // quickly: with 64 the test failed once in a full run here (its message was not kept), likely drained too soon.
        using var release = new ManualResetEventSlim();
        var blockers = ThreadPool.ThreadCount + 1024;
        for (var i = 0; i < blockers; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Wait(), release, preferLocal: false);
        }

        Thread.Sleep(200);
        release.Set();
        await canary.StopAsync(CancellationToken.None);
        await log.StopAsync(CancellationToken.None);
        canary.Dispose();

        var (exit, output, _) = await SiloCli.RunAsync("diagnose", "--file", _directory);
        Assert.Equal(1, exit);
        Assert.Contains("[critical] scheduler_stall", output, StringComparison.Ordinal);
        Assert.Contains("on stalled-node", output, StringComparison.Ordinal);

        (exit, output, _) = await SiloCli.RunAsync("diagnose", "--file", _directory, "--json");
        using var json = JsonDocument.Parse(output);
        var stall = json.RootElement.GetProperty("flags").EnumerateArray().Single(f => f.GetProperty("rule").GetString() == "scheduler_stall");
        Assert.True(stall.GetProperty("worst_ms").GetDouble() > 100, $"worst stall {stall.GetProperty("worst_ms").GetDouble()} ms");
        Assert.Equal(1, exit);
    }

    [Fact]
    public async Task Diagnose_without_slow_call_files_names_the_path_it_read()
    {
        var (exit, _, error) = await SiloCli.RunAsync("diagnose", "--file", _directory);

        Assert.Equal(7, exit);
        Assert.Contains(_directory, error, StringComparison.Ordinal);
    }
}
