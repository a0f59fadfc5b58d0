using System.Diagnostics;

namespace Coordinator.TestSupport;

/// <summary>Prometheus' own linter for exposition text (Debian's prometheus package).</summary>
public static class Promtool
{
    /// <summary>The <c>coordinator_</c> series of a scrape, with their HELP and TYPE lines.</summary>
    public static string Ours(string scrape)
    {
        ArgumentNullException.ThrowIfNull(scrape);
        return string.Join('\n', scrape.Split('\n').Where(l =>
            l.StartsWith("coordinator_", StringComparison.Ordinal) || l.StartsWith("# HELP coordinator_", StringComparison.Ordinal) || l.StartsWith("# TYPE coordinator_", StringComparison.Ordinal))) + "\n";
    }

    /// <summary>Runs <c>promtool check metrics</c> on <paramref name="metrics"/>; its exit code and what it complained about.</summary>
    public static async Task<(int Exit, string Complaints)> CheckMetricsAsync(string metrics)
    {
        var promtool = Executables.Find("promtool")
            ?? throw new InvalidOperationException("promtool is not on PATH; install Prometheus (apt-get install -y prometheus) to run the metrics tests.");
        using var process = Process.Start(new ProcessStartInfo(promtool, "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        await process.StandardInput.WriteAsync(metrics);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output + await errors).Trim());
    }
}
