using System.Diagnostics;
using System.Text.Json;
using Coordinator.Hosting.Processes;

namespace Coordinator.TestSupport;

/// <summary>A real Prometheus server on loopback, scraping the given targets every second, with its query API.</summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly HttpClient _http = new();

    private PrometheusServer(Process process, string directory, int port)
    {
        (_process, _directory) = (process, directory);
        _http.BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    /// <summary>Starts Prometheus scraping <c>/metrics</c> of each job's target (host:port); returns when it answers.</summary>
    public static async Task<PrometheusServer> StartAsync(IReadOnlyDictionary<string, string> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var executable = Executables.Find("prometheus")
            ?? throw new InvalidOperationException("prometheus is not on PATH; install it (apt-get install -y prometheus) to run the scrape tests.");
        var directory = Directory.CreateTempSubdirectory("coordinator-prometheus-").FullName;
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, "global:\n  scrape_interval: 1s\nscrape_configs:\n"
            + string.Concat(targets.Select(t => $"  - job_name: {t.Key}\n    static_configs:\n      - targets: ['{t.Value}']\n")));
        var port = FreePorts.Next();
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            $"--web.listen-address=127.0.0.1:{port}"])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, directory, port);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if ((await server._http.GetAsync("/-/ready")).IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromSeconds(30) && !process.HasExited)
            {
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(30) || process.HasExited)
            {
                await server.DisposeAsync();
                throw new InvalidOperationException("Prometheus did not become ready in 30 s.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The series an instant query returns: each one's labels and value. A query Prometheus refuses throws with its reason.</summary>
    public async Task<IReadOnlyList<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string query)
    {
        using var response = await _http.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(query)}");
        var body = await response.Content.ReadAsStringAsync();
        using var answer = response.IsSuccessStatusCode ? JsonDocument.Parse(body) : throw new InvalidOperationException($"Prometheus refused {query}: {body}");
        return [.. answer.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(series => (
            series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            double.Parse(series.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture)))];
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _http.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
