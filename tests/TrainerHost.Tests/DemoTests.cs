using Coordinator.ServiceDefaults.Processes;

namespace Coordinator.TrainerHost.Tests;

/// <summary>README's first command, shortened: the demo binary starts its cluster, trains, saves and exits 0.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task The_demo_trains_samples_saves_and_exits_zero()
    {
        var workDir = Directory.CreateTempSubdirectory("coordinator-demo-").FullName;
        try
        {
            await using var demo = ChildProcess.StartDotnet(
                Path.Combine(AppContext.BaseDirectory, "Coordinator.TrainerHost.dll"), ["demo", "--steps", "25", "--work-dir", workDir]);
            var exit = await demo.WaitForExitAsync(TimeSpan.FromMinutes(3));

            Assert.True(exit == 0, demo.Output);
            Assert.Contains("Samples before training", demo.Output, StringComparison.Ordinal);
            Assert.Contains("step   25  loss", demo.Output, StringComparison.Ordinal);
            Assert.Contains("Samples after training", demo.Output, StringComparison.Ordinal);
            Assert.Contains("/dashboard", demo.Output, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(workDir, "demo-adapter.state")), demo.Output);
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }
}
