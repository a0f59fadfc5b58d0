using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Coordinator.TestSupport;

/// <summary>A real headless Chromium: loads a page, runs its scripts, and hands back the DOM they left.</summary>
public static class HeadlessBrowser
{
    /// <summary>
    /// The serialized DOM of <paramref name="url"/> once its scripts have run (fetches included) for up to
    /// <paramref name="budget"/> of the browser's virtual time. For pages that keep a request open (a live feed), whose
    /// virtual time never runs out, use <see cref="OpenAsync"/>.
    /// </summary>
    public static async Task<string> DumpDomAsync(string url, TimeSpan budget)
    {
        var profile = Directory.CreateTempSubdirectory("coordinator-chromium-").FullName;
        try
        {
            using var process = Start(profile, $"--virtual-time-budget={(long)budget.TotalMilliseconds}", "--dump-dom", url);
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
                throw new TimeoutException($"Chromium did not finish loading {url} in 60 s: {await errors}");
            }

            return process.ExitCode == 0 ? await output : throw new InvalidOperationException($"Chromium exited with {process.ExitCode}: {await errors}");
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    /// <summary>
    /// <paramref name="url"/> open in a headless Chromium that keeps running (in real time) until the page is disposed;
    /// the test reads its DOM as it changes over the DevTools protocol.
    /// </summary>
    public static async Task<BrowserPage> OpenAsync(string url)
    {
        var profile = Directory.CreateTempSubdirectory("coordinator-chromium-").FullName;
        var process = Start(profile, "--remote-debugging-port=0", url);
        try
        {
            // Chromium names its DevTools port on stderr once it listens.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? line;
            var said = new StringBuilder();
            while ((line = await process.StandardError.ReadLineAsync(timeout.Token)) is not null && !line.StartsWith("DevTools listening on ", StringComparison.Ordinal))
            {
                said.AppendLine(line);
            }

            var browser = new Uri(line?["DevTools listening on ".Length..] ?? throw new InvalidOperationException($"Chromium exited before it listened: {said}"));
            _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var http = new HttpClient();
            using var targets = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://{browser.Authority}/json/list"), timeout.Token));
            var page = targets.RootElement.EnumerateArray().First(t => t.GetProperty("type").GetString() == "page").GetProperty("webSocketDebuggerUrl").GetString()!;
            var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri(page), timeout.Token);
            return new BrowserPage(process, socket, profile);
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            Directory.Delete(profile, recursive: true);
            throw;
        }
    }

    private static Process Start(string profile, params string[] arguments)
    {
        var executable = Executables.Find("chromium-headless-shell") ?? Executables.Find("chromium")
            ?? throw new InvalidOperationException("No headless Chromium on PATH; install it (apt-get install -y chromium-headless-shell) to run the web page tests.");
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", $"--user-data-dir={profile}", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
    }
}

/// <summary>A page open in <see cref="HeadlessBrowser.OpenAsync"/>'s Chromium.</summary>
public sealed class BrowserPage : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ClientWebSocket _socket;
    private readonly string _profile;
    private int _id;

    internal BrowserPage(Process process, ClientWebSocket socket, string profile)
    {
        _process = process;
        _socket = socket;
        _profile = profile;
    }

    /// <summary>The page's DOM now, serialized; empty while there is no document yet.</summary>
    public async Task<string> DomAsync(CancellationToken cancellationToken = default)
    {
        var id = ++_id;
        var request = JsonSerializer.SerializeToUtf8Bytes(new
        {
            id,
            method = "Runtime.evaluate",
            @params = new { expression = "document.documentElement.outerHTML", returnByValue = true },
        });
        await _socket.SendAsync(request, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        while (true)
        {
            using var answer = JsonDocument.Parse(await ReceiveAsync(cancellationToken));
            if (answer.RootElement.TryGetProperty("id", out var answered) && answered.GetInt32() == id)
            {
                // While the page is still being navigated to, its document may not be there to evaluate in: no DOM yet.
                return answer.RootElement.TryGetProperty("result", out var result) && result.TryGetProperty("result", out var evaluated)
                    && evaluated.TryGetProperty("value", out var value) ? value.GetString() ?? "" : "";
            }
        }
    }

    /// <summary>
    /// Reads the DOM until <paramref name="until"/> holds, and answers it; a <see cref="TimeoutException"/> with the last DOM
    /// read when it does not within <paramref name="deadline"/>.
    /// </summary>
    public async Task<string> WaitForAsync(Func<string, bool> until, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        var dom = "";
        try
        {
            while (!until(dom = await DomAsync(timeout.Token)))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), timeout.Token);
            }

            return dom;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new TimeoutException($"The page did not get there in {deadline.TotalSeconds} s. Its DOM: {dom}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_profile, recursive: true);
    }

    private async Task<byte[]> ReceiveAsync(CancellationToken cancellationToken)
    {
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        WebSocketReceiveResult result;
        do
        {
            result = await _socket.ReceiveAsync(buffer, cancellationToken);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return message.ToArray();
    }
}
