using Coordinator.Silo.Cli;

namespace Coordinator.Silo.Tests;

/// <summary>Runs the silo binary's command line in-process and captures what it prints.</summary>
internal static class SiloCli
{
    public static async Task<(int Exit, string Out, string Err)> RunWithInputAsync(string stdin, string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var input = new StringReader(stdin);
        var exit = await SiloCommandLine.InvokeAsync(args, stdout, stderr, input);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public static Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => RunWithInputAsync("", args);
}
