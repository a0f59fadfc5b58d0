using System.CommandLine;
using Coordinator.Grains.Diagnostics.Latency;

namespace Coordinator.Hosting.Cli;

/// <summary>The <c>diagnose</c> verb of the silo and the trainer host: what the slow-call files say.</summary>
public static class DiagnoseVerb
{
    /// <summary>
    /// <c>diagnose [--file PATH] [--json]</c>: reads a slow-call file, or every one under a directory (by default the
    /// configured <c>Diagnostics:SlowCallDirectory</c>, which <paramref name="directory"/> returns, or null when the
    /// configuration is invalid), and prints the red flags with their meaning and the slowest calls. Exits 0 without red
    /// flags, 1 with some, 7 when there is nothing to read.
    /// </summary>
    public static Command Create(Func<ParseResult, string?> directory, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var file = new Option<string?>("--file") { Description = "A slow-call file, or a directory of them (default: Diagnostics:SlowCallDirectory)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var diagnose = new Command("diagnose", "Read the slow-call files and print red flags with their meaning (exit 1 when any) and the slowest calls.") { file, json };
        diagnose.SetAction(parse =>
        {
            var path = parse.GetValue(file);
            if (path is null)
            {
                path = directory(parse);
                if (path is null)
                {
                    return ExitCodes.InvalidConfiguration;
                }

                if (path.Length == 0)
                {
                    stderr.WriteLine("The slow-call file is off (Diagnostics:SlowCallDirectory is empty); name one with --file.");
                    return ExitCodes.InvalidArguments;
                }
            }

            SlowCallDiagnosis diagnosis;
            try
            {
                diagnosis = SlowCallDiagnosis.Read(path);
            }
            catch (FileNotFoundException ex)
            {
                stderr.WriteLine(ex.Message);
                return ExitCodes.InvalidArguments;
            }

            if (parse.GetValue(json))
            {
                using var output = new MemoryStream();
                diagnosis.WriteJson(output);
                stdout.WriteLine(System.Text.Encoding.UTF8.GetString(output.ToArray()));
            }
            else
            {
                diagnosis.WriteText(stdout);
            }

            return diagnosis.Flags.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return diagnose;
    }
}
