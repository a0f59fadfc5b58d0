using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Coordinator.Hosting.Cli;
using Coordinator.Hosting.Configuration;
using Coordinator.TrainerHost.Configuration;
using Coordinator.TrainerHost.Hosting;
using Coordinator.Training.Engine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Coordinator.TrainerHost.Cli;

/// <summary>The verbs of the trainer host: run (default), check-config, print-config, save-base-model, diagnose.</summary>
internal static class TrainerCommandLine
{
    public static RootCommand Create(TextWriter stdout, TextWriter stderr, long startTimestamp)
    {
        var config = new Option<FileInfo?>("--config") { Description = "JSON configuration file.", Recursive = true };
        var redis = new Option<string?>("--redis") { Description = "Redis connection string; selects Redis clustering (Persistence:RedisConnectionString).", Recursive = true };
        var siloPort = new Option<int?>("--silo-port") { Description = "This trainer's silo port (Cluster:SiloPort, default 11112).", Recursive = true };
        var clusterId = new Option<string?>("--cluster-id") { Description = "Cluster id (Cluster:ClusterId).", Recursive = true };
        var replicaId = new Option<string?>("--replica-id") { Description = "Replica id and silo name (Trainer:ReplicaId).", Recursive = true };
        var primarySilo = new Option<string?>("--primary-silo") { Description = "Coordinator silo endpoint with memory persistence (Trainer:PrimarySiloEndpoint).", Recursive = true };
        var capacity = new Option<int?>("--capacity") { Description = "Adapters this replica keeps loaded (Trainer:LoraCapacity).", Recursive = true };
        var device = new Option<string?>("--device") { Description = "auto, cpu or cuda (Trainer:Device).", Recursive = true };
        var cpuThreads = new Option<int?>("--cpu-threads") { Description = "Torch CPU threads (Trainer:CpuThreads).", Recursive = true };
        var stateDir = new Option<string?>("--state-dir") { Description = "Where relative state paths resolve (Trainer:StateDirectory).", Recursive = true };
        var httpPort = new Option<int?>("--http-port") { Description = "Health and metrics port (Http:Port; 0, the default, picks a free one).", Recursive = true };

        (TrainerSettings, IConfiguration)? Load(ParseResult parse)
        {
            static string? Number(int? value) => value?.ToString(CultureInfo.InvariantCulture);
            var overrides = new Dictionary<string, string?>
            {
                ["Persistence:RedisConnectionString"] = parse.GetValue(redis),
                ["Cluster:SiloPort"] = Number(parse.GetValue(siloPort)),
                ["Cluster:ClusterId"] = parse.GetValue(clusterId),
                ["Trainer:ReplicaId"] = parse.GetValue(replicaId),
                ["Trainer:PrimarySiloEndpoint"] = parse.GetValue(primarySilo),
                ["Trainer:LoraCapacity"] = Number(parse.GetValue(capacity)),
                ["Trainer:Device"] = parse.GetValue(device),
                ["Trainer:CpuThreads"] = Number(parse.GetValue(cpuThreads)),
                ["Trainer:StateDirectory"] = parse.GetValue(stateDir),
                ["Http:Port"] = Number(parse.GetValue(httpPort)),
            };
            try
            {
                return TrainerSettings.Load(parse.GetValue(config)?.FullName, overrides);
            }
            catch (ConfigurationException ex)
            {
                stderr.WriteLine(ex.Message);
                return null;
            }
        }

        async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
        {
            if (Load(parse) is not var (settings, configuration))
            {
                return ExitCodes.InvalidConfiguration;
            }

            await using var host = TrainerHostBuilder.Build(settings, configuration);
            try
            {
                await TrainerHostBuilder.StartAsync(host, settings, startTimestamp);
            }
            catch (IOException ex)
            {
                await stderr.WriteLineAsync($"Could not start trainer '{settings.Trainer.ReplicaId}': {ex.Message} (Cluster:SiloPort {settings.Cluster.SiloPort}, Http:Port {settings.Http.Port}).");
                return ExitCodes.StartFailed;
            }
            catch (Exception ex)
            {
                // Typically the coordinator is unreachable (wrong --primary-silo or Redis; Orleans gives up joining after
                // about two minutes with a cancellation) or the engine could not start.
                await stderr.WriteLineAsync($"Could not start trainer '{settings.Trainer.ReplicaId}': {ex.GetType().Name}: {ex.Message}");
                return ExitCodes.StartFailed;
            }

            await host.WaitForShutdownAsync(CancellationToken.None);
            return ExitCodes.Ok;
        }

        var run = new Command("run", "Join the cluster as a trainer and serve the adapters placed here (the default verb).");
        run.SetAction(RunAsync);

        var configurationVerbs = ConfigurationVerbs.Create(parse => Load(parse)?.Item1, stdout);

        var output = new Option<FileInfo>("--out") { Description = "File to write.", Required = true };
        var saveBase = new Command("save-base-model", "Build the configured base model and write it to a file that Trainer:BaseModelPath can load.") { output };
        saveBase.SetAction(async (parse, cancellationToken) =>
        {
            if (Load(parse) is not var (settings, _))
            {
                return ExitCodes.InvalidConfiguration;
            }

            using var engine = await TrainingEngine.StartAsync(new TrainingEngineOptions { Spec = settings.Trainer.Spec, BaseModelPath = settings.Trainer.BaseModelPath, Device = "cpu" });
            var path = parse.GetValue(output)!.FullName;
            var bytes = await engine.SaveBaseModelAsync(path);
            await stdout.WriteLineAsync($"Wrote base model {engine.BaseModelFingerprint} ({bytes} bytes) to {path}.");
            return ExitCodes.Ok;
        });

        var root = new RootCommand("Coordinator trainer host: trains LoRA adapters with TorchSharp for the coordinator cluster.")
        {
            config, redis, siloPort, httpPort, clusterId, replicaId, primarySilo, capacity, device, cpuThreads, stateDir, run, saveBase,
            DiagnoseVerb.Create(parse => Load(parse)?.Item1.Diagnostics.SlowCallDirectory, stdout, stderr),
        };
        foreach (var verb in configurationVerbs)
        {
            root.Subcommands.Add(verb);
        }

        root.SetAction(RunAsync);
        return root;
    }

    /// <summary>Parses and runs; Ctrl-C is left to the host so the silo leaves the cluster cleanly.</summary>
    public static Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = Create(stdout, stderr, Stopwatch.GetTimestamp());
        return ConfigurationVerbs.InvokeAsync(root, args, stdout, stderr);
    }
}
