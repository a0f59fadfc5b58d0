using System.Diagnostics;
using System.Text.RegularExpressions;
using Coordinator.Hosting.Processes;

namespace Coordinator.Demo.Tests;

/// <summary>README's first command: the demo starts its cluster, learns, saves, and stops it, also on SIGTERM.</summary>
public sealed partial class DemoTests
{
    [Fact]
    public async Task The_demo_learns_addition_past_half_of_the_held_out_problems_saves_and_stops_its_cluster()
    {
        var workDir = Directory.CreateTempSubdirectory("coordinator-demo-").FullName;
        try
        {
            using var output = new StringWriter();
            var demo = new DemoRunner(output, output, new DemoOptions(WorkDirectory: workDir));

            var exit = await demo.RunAsync(CancellationToken.None);

            Assert.True(exit == 0, output.ToString());
            var report = demo.Report!;
            Assert.True(report.CorrectBefore <= 2, $"{report.CorrectBefore}/{report.Problems} right before training{Environment.NewLine}{output}");
            Assert.True(report.CorrectAfter * 2 >= report.Problems, $"{report.CorrectAfter}/{report.Problems} right after training{Environment.NewLine}{output}");
            Assert.True(report.LossAfter < report.LossBefore / 4, $"held-out loss {report.LossBefore:F3} -> {report.LossAfter:F3}");
            Assert.True(new FileInfo(Path.Combine(workDir, "demo-adapter.state")).Length > 0);

            // Every process recorded the run: the silo the operations' submissions and outcomes, a trainer their runs.
            Assert.Equal(3, report.EventsPerNode.Count);
            Assert.True(report.EventsPerNode.Values.Sum() > 4 * report.Steps, string.Join(", ", report.EventsPerNode));

            // ... and shipped all of it to the silo's store: no sequence gap, every operation's chain whole.
            Assert.Equal(0, report.TimelineFindings);
            Assert.True(new FileInfo(Directory.GetFiles(workDir, "*.trace.json").Single()).Length > 0);
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    [Fact]
    public async Task Sigterm_stops_a_demo_that_keeps_running_and_every_process_it_started()
    {
        var workDir = Directory.CreateTempSubdirectory("coordinator-demo-").FullName;
        try
        {
            await using var demo = ChildProcess.StartDotnet(
                Path.Combine(AppContext.BaseDirectory, "Coordinator.Demo.dll"), ["--steps", "4", "--keep-running", "--work-dir", workDir]);
            var waited = Stopwatch.StartNew();
            while (!demo.Output.Contains("The cluster keeps running", StringComparison.Ordinal) && !demo.HasExited)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(3), $"the demo did not finish training in 3 minutes{Environment.NewLine}{demo.Output}");
                await Task.Delay(100);
            }

            var children = Pids().Matches(demo.Output).SelectMany(m => m.Groups[1].Value.Split(", ")).Select(int.Parse).ToList();
            Assert.Equal(3, children.Count);
            Assert.All(children, pid => Assert.True(Running(pid), $"child {pid} should run before SIGTERM"));

            var exit = await demo.StopAsync(TimeSpan.FromSeconds(60));

            Assert.True(exit == 0, demo.Output);
            Assert.All(children, pid => Assert.False(Running(pid), $"child {pid} still runs after the demo stopped{Environment.NewLine}{demo.Output}"));
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    private static bool Running(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"\(pids? ([0-9, ]+)[;)]")]
    private static partial Regex Pids();
}
