using System.CommandLine;

namespace Coordinator.TrainerHost.Demo;

/// <summary>The demo verb: a coordinator silo and two trainer hosts on this machine fine-tune an adapter on addition.</summary>
internal static class DemoCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var steps = new Option<int>("--steps") { Description = "Training steps.", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch-size") { Description = "Examples per step.", DefaultValueFactory = _ => 32 };
        var learningRate = new Option<double>("--learning-rate") { Description = "Adam learning rate.", DefaultValueFactory = _ => 3e-3 };
        var workDir = new Option<DirectoryInfo>("--work-dir") { Description = "Where the trainers write adapter state.", DefaultValueFactory = _ => new DirectoryInfo("demo-state") };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Leave the cluster up after the demo (for the dashboard) until Ctrl-C." };
        var command = new Command("demo", "Start a coordinator silo and two trainer hosts, fine-tune a LoRA adapter to add numbers, sample before and after, save it, and stop.")
        {
            steps, batch, learningRate, workDir, keepRunning,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new DemoOptions(parse.GetValue(steps), parse.GetValue(batch), parse.GetValue(learningRate), parse.GetValue(workDir)!.FullName, parse.GetValue(keepRunning));
            if (options.Steps < 1 || options.BatchSize < 1 || !(options.LearningRate > 0))
            {
                await stderr.WriteLineAsync("--steps and --batch-size must be at least 1, --learning-rate above 0.");
                return 2;
            }

            return await new DemoRunner(stdout, stderr, options).RunAsync(cancellationToken);
        });
        return command;
    }
}

/// <summary>What the demo does.</summary>
internal sealed record DemoOptions(int Steps, int BatchSize, double LearningRate, string WorkDirectory, bool KeepRunning);
