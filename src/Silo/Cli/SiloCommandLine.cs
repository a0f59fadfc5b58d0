using Coordinator.Client.Configuration;
using System.CommandLine;
using System.Diagnostics;
using Coordinator.Client.Hosting;
using Coordinator.Hosting.Cli;
using Coordinator.Hosting.Configuration;
using Coordinator.Silo.Configuration;
using Coordinator.Silo.Hosting;
using Coordinator.Silo.Persistence;
using Coordinator.Silo.Timeline;
using StackExchange.Redis;

namespace Coordinator.Silo.Cli;

/// <summary>The verbs of the silo binary: run (default), check-config, print-config, clear-persistence, timeline, diagnose.</summary>
internal static class SiloCommandLine
{
    public static RootCommand Create(TextWriter stdout, TextWriter stderr, TextReader stdin, long startTimestamp)
    {
        var config = new Option<FileInfo?>("--config") { Description = "JSON configuration file.", Recursive = true };
        var redis = new Option<string?>("--redis") { Description = "Redis connection string; selects Redis clustering and persistence (Persistence:RedisConnectionString).", Recursive = true };
        var siloPort = new Option<int?>("--silo-port") { Description = "Silo-to-silo port (Cluster:SiloPort).", Recursive = true };
        var gatewayPort = new Option<int?>("--gateway-port") { Description = "Client gateway port (Cluster:GatewayPort).", Recursive = true };
        var httpPort = new Option<int?>("--http-port") { Description = "Dashboard/health/metrics port (Http:Port).", Recursive = true };
        var clusterId = new Option<string?>("--cluster-id") { Description = "Cluster id (Cluster:ClusterId).", Recursive = true };
        var acceptDrift = new Option<bool>("--accept-drift") { Description = "Start even though the persistence configuration differs from the stored one, and store the new one." };
        var yes = new Option<bool>("--yes") { Description = "Do not ask for confirmation." };

        (SiloSettings, IConfiguration)? Load(ParseResult parse)
        {
            var overrides = new Dictionary<string, string?>
            {
                ["Persistence:RedisConnectionString"] = parse.GetValue(redis),
                ["Cluster:SiloPort"] = parse.GetValue(siloPort)?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Cluster:GatewayPort"] = parse.GetValue(gatewayPort)?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Http:Port"] = parse.GetValue(httpPort)?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Cluster:ClusterId"] = parse.GetValue(clusterId),
            };
            try
            {
                var (settings, configuration) = SiloSettings.Load(parse.GetValue(config)?.FullName, overrides);
                return (settings, configuration);
            }
            catch (ConfigurationException ex)
            {
                stderr.WriteLine(ex.Message);
                return null;
            }
        }

        var run = new Command("run", "Run a silo (the default verb).") { acceptDrift };
        async Task<int> RunAsync(ParseResult parse, CancellationToken cancellationToken)
        {
            if (Load(parse) is not var (settings, configuration))
            {
                return ExitCodes.InvalidConfiguration;
            }

            IConnectionMultiplexer? connection = null;
            if (settings.Persistence.EffectiveProvider == PersistenceProvider.Redis)
            {
                try
                {
                    connection = await RedisBackend.ConnectAsync(settings.Persistence);
                }
                catch (InvalidOperationException ex)
                {
                    await stderr.WriteLineAsync(ex.Message);
                    return ExitCodes.BackendUnavailable;
                }

                var drift = await DriftCheck.RunAsync(connection.GetDatabase(), settings.Cluster, parse.GetValue(acceptDrift));
                await (drift.Refused ? stderr : stdout).WriteLineAsync(drift.Message);
                if (drift.Refused)
                {
                    await connection.DisposeAsync();
                    return ExitCodes.DriftRefused;
                }
            }

            await using var app = SiloHost.Build(settings, configuration, connection);
            try
            {
                await SiloHost.StartAsync(app, settings, startTimestamp);
            }
            catch (IOException ex)
            {
                // Almost always a port in use; name the keys that choose the ports.
                await stderr.WriteLineAsync($"Could not start the silo: {ex.Message} (ports: Http:Port {settings.Http.Port}, Cluster:SiloPort {settings.Cluster.SiloPort}, Cluster:GatewayPort {settings.Cluster.GatewayPort}).");
                return ExitCodes.StartFailed;
            }

            await app.WaitForShutdownAsync(CancellationToken.None);
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }

            return ExitCodes.Ok;
        }

        run.SetAction(RunAsync);

        var configurationVerbs = ConfigurationVerbs.Create(parse => Load(parse)?.Item1, stdout);

        var clear = new Command("clear-persistence", "Delete this service's state from Redis (grain state, reminders, membership, persistence signature). Stop every silo first.") { yes };
        clear.SetAction(async (parse, cancellationToken) =>
        {
            if (Load(parse) is not var (settings, _))
            {
                return ExitCodes.InvalidConfiguration;
            }

            if (settings.Persistence.EffectiveProvider != PersistenceProvider.Redis)
            {
                await stderr.WriteLineAsync("clear-persistence needs Redis (--redis or Persistence:RedisConnectionString); memory persistence holds nothing after the silo stops.");
                return ExitCodes.InvalidConfiguration;
            }

            IConnectionMultiplexer connection;
            try
            {
                connection = await RedisBackend.ConnectAsync(settings.Persistence);
            }
            catch (InvalidOperationException ex)
            {
                await stderr.WriteLineAsync(ex.Message);
                return ExitCodes.BackendUnavailable;
            }

            await using (connection)
            {
                var keys = await PersistenceCleaner.FindKeysAsync(connection, settings.Cluster);
                var target = $"service '{settings.Cluster.ServiceId}' / cluster '{settings.Cluster.ClusterId}' at {Secrets.RedactConnectionString(settings.Persistence.RedisConnectionString!)}";
                if (keys.Count == 0)
                {
                    await stdout.WriteLineAsync($"Nothing to delete for {target}.");
                    return ExitCodes.Ok;
                }

                if (!parse.GetValue(yes))
                {
                    await stdout.WriteAsync($"Delete {keys.Count} key(s) of {target}? Type 'yes' to confirm: ");
                    var answer = await stdin.ReadLineAsync(cancellationToken);
                    if (!string.Equals(answer?.Trim(), "yes", StringComparison.OrdinalIgnoreCase))
                    {
                        await stderr.WriteLineAsync("Not confirmed; nothing was deleted. Pass --yes to skip the question.");
                        return ExitCodes.NotConfirmed;
                    }
                }

                var deleted = await PersistenceCleaner.DeleteAsync(connection, keys);
                await stdout.WriteLineAsync($"Deleted {deleted} key(s) of {target}.");
                return ExitCodes.Ok;
            }
        });

        var root = new RootCommand("Coordinator silo: an Orleans-based distributed training coordinator.")
        {
            config, redis, siloPort, gatewayPort, httpPort, clusterId, acceptDrift, run, clear,
            TimelineVerbs.Create(parse => Load(parse)?.Item1, stdout, stderr),
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
    public static Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var root = Create(stdout, stderr, stdin, Stopwatch.GetTimestamp());
        return ConfigurationVerbs.InvokeAsync(root, args, stdout, stderr);
    }
}
