using System.Diagnostics;

namespace Coordinator.TestSupport;

/// <summary>A real headless Chromium: loads a page, runs its scripts, and hands back the DOM they left.</summary>
public static class HeadlessBrowser
{
    /// <summary>
    /// The serialized DOM of <paramref name="url"/> once its scripts have run (fetches included) for up to
    /// <paramref name="budget"/> of the browser's virtual time.
    /// </summary>
    public static async Task<string> DumpDomAsync(string url, TimeSpan budget)
    {
        var executable = Executables.Find("chromium-headless-shell") ?? Executables.Find("chromium")
            ?? throw new InvalidOperationException("No headless Chromium on PATH; install it (apt-get install -y chromium-headless-shell) to run the web page tests.");
        var profile = Directory.CreateTempSubdirectory("coordinator-chromium-").FullName;
        try
        {
            var start = new ProcessStartInfo(executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", $"--user-data-dir={profile}",
                $"--virtual-time-budget={(long)budget.TotalMilliseconds}", "--dump-dom", url])
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{executable} did not finish loading {url} in 60 s: {await errors}");
            }

            return process.ExitCode == 0 ? await output : throw new InvalidOperationException($"{executable} exited with {process.ExitCode}: {await errors}");
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }
}
