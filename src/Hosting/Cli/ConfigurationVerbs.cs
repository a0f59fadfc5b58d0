using System.CommandLine;
using Coordinator.Hosting.Configuration;

namespace Coordinator.Hosting.Cli;

/// <summary>The configuration verbs every Coordinator executable has, with the same words and exit codes (0 valid, 2 invalid).</summary>
public static class ConfigurationVerbs
{
    /// <summary>
    /// <c>check-config</c> and <c>print-config</c>. <paramref name="load"/> binds and validates the settings of the
    /// executable, printing the errors and returning null when the configuration is invalid.
    /// </summary>
    public static IEnumerable<Command> Create(Func<ParseResult, object?> load, TextWriter stdout)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(stdout);
        var checkConfig = new Command("check-config", "Validate the configuration and exit: 0 when valid, 2 with the offending keys otherwise.");
        checkConfig.SetAction(parse =>
        {
            if (load(parse) is null)
            {
                return ExitCodes.InvalidConfiguration;
            }

            stdout.WriteLine("Configuration is valid.");
            return ExitCodes.Ok;
        });

        var printConfig = new Command("print-config", "Print the effective configuration (defaults applied, secrets redacted).");
        printConfig.SetAction(parse =>
        {
            if (load(parse) is not { } settings)
            {
                return ExitCodes.InvalidConfiguration;
            }

            stdout.WriteLine(Redaction.ToRedactedJson(settings));
            return ExitCodes.Ok;
        });

        return [checkConfig, printConfig];
    }

    /// <summary>Parses and runs; Ctrl-C is left to the host so a silo leaves its cluster cleanly.</summary>
    public static Task<int> InvokeAsync(RootCommand root, string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(root);
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null });
    }
}
