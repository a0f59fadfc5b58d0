using System.CommandLine;
using System.Runtime.InteropServices;
using Coordinator.Hosting.Cli;

namespace Coordinator.Demo;

/// <summary>The demo's command line: a coordinator silo and two trainer hosts on this machine fine-tune an adapter on addition.</summary>
internal static class DemoCommand
{
    public static RootCommand Create(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new DemoOptions();
        var steps = new Option<int>("--steps") { Description = "Training steps.", DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch-size") { Description = "Examples per step.", DefaultValueFactory = _ => defaults.BatchSize };
        var learningRate = new Option<double>("--learning-rate") { Description = "Peak Adam learning rate (warm-up, then cosine decay).", DefaultValueFactory = _ => defaults.LearningRate };
        var cpuThreads = new Option<int>("--trainer-cpu-threads") { Description = "Torch CPU threads of each trainer host.", DefaultValueFactory = _ => defaults.CpuThreads };
        var workDir = new Option<DirectoryInfo>("--work-dir") { Description = "Where the trainers write adapter state.", DefaultValueFactory = _ => new DirectoryInfo(defaults.WorkDirectory) };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Leave the cluster up after the demo (for the dashboard) until Ctrl-C or SIGTERM." };
        var command = new RootCommand("Coordinator demo: start a coordinator silo and two trainer hosts, fine-tune a LoRA adapter to add numbers, sample before and after, save it, and stop.")
        {
            steps, batch, learningRate, cpuThreads, workDir, keepRunning,
        };
        command.SetAction(async (parse, _) =>
        {
            var options = new DemoOptions(parse.GetValue(steps), parse.GetValue(batch), parse.GetValue(learningRate), parse.GetValue(cpuThreads),
                parse.GetValue(workDir)!.FullName, parse.GetValue(keepRunning));
            if (options.Steps < 1 || options.BatchSize < 1 || options.CpuThreads < 1 || !(options.LearningRate > 0))
            {
                await stderr.WriteLineAsync("--steps, --batch-size and --trainer-cpu-threads must be at least 1, --learning-rate above 0.");
                return ExitCodes.InvalidConfiguration;
            }

            // SIGINT (Ctrl-C) and SIGTERM (a script, a service manager) both stop the demo and the cluster it started:
            // without these the runtime would end this process at once and leave the children running.
            using var stop = new CancellationTokenSource();
            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }

            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            return await new DemoRunner(stdout, stderr, options).RunAsync(stop.Token);
        });
        return command;
    }

    /// <summary>Parses and runs; SIGINT and SIGTERM are handled by the action, which stops the cluster it started.</summary>
    public static Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr) =>
        ConfigurationVerbs.InvokeAsync(Create(stdout, stderr), args, stdout, stderr);
}

/// <summary>What the demo does.</summary>
internal sealed record DemoOptions(
    int Steps = 4500, int BatchSize = 32, double LearningRate = 4e-3, int CpuThreads = 1, string WorkDirectory = "demo-state", bool KeepRunning = false);
