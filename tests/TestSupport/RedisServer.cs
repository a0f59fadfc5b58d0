using System.Diagnostics;
using StackExchange.Redis;
using Coordinator.Hosting.Processes;

namespace Coordinator.TestSupport;

/// <summary>
/// A real redis-server on a free loopback port, without persistence, owned by the test run. Integration tests use
/// it as the cluster's shared backend. Fails loudly if redis-server is not installed (.ci/run installs it).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _executable;
    private readonly string _directory;
    private readonly bool _appendOnly;
    private Process _process;

    private RedisServer(string executable, string directory, int port, bool appendOnly, Process process, IConnectionMultiplexer connection)
    {
        _executable = executable;
        _directory = directory;
        _appendOnly = appendOnly;
        _process = process;
        Port = port;
        Connection = connection;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>A connection for assertions (key counts, flushing between tests).</summary>
    public IConnectionMultiplexer Connection { get; }

    /// <summary>Starts a server; with <paramref name="appendOnly"/> it keeps an append-only file and survives <see cref="RestartAsync"/>.</summary>
    public static async Task<RedisServer> StartAsync(bool appendOnly = false)
    {
        var executable = Executables.Find("redis-server")
            ?? throw new InvalidOperationException("redis-server is not on PATH; install it (apt-get install -y redis-server) to run the integration tests.");
        var port = FreePorts.Next();
        var directory = Directory.CreateTempSubdirectory("coordinator-redis-").FullName;
        var process = await LaunchAsync(executable, port, directory, appendOnly);
        var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},allowAdmin=true,connectTimeout=1000");
        return new RedisServer(executable, directory, port, appendOnly, process, connection);
    }

    /// <summary>
    /// Stops the server as a service manager would (SIGTERM: it writes its append-only file and exits), keeps it down for
    /// <paramref name="down"/>, and starts it again on the same port and files. Returns when it answers again.
    /// </summary>
    public async Task RestartAsync(TimeSpan down)
    {
        ChildProcess.Terminate(_process.Id);
        await _process.WaitForExitAsync();
        _process.Dispose();
        await Task.Delay(down);
        _process = await LaunchAsync(_executable, Port, _directory, _appendOnly);
    }

    private static async Task<Process> LaunchAsync(string executable, int port, string directory, bool appendOnly)
    {
        var start = new ProcessStartInfo(executable)
        {
            ArgumentList =
            {
                "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", appendOnly ? "yes" : "no", "--dir", directory,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var probe = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=1000");
                await probe.GetDatabase().PingAsync();
                return process;
            }
            catch (RedisConnectionException) when (attempt < 50 && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Deletes every key, so tests do not see each other's state.</summary>
    public Task FlushAsync() => Connection.GetServers()[0].FlushAllDatabasesAsync();

    /// <summary>Number of keys in database 0.</summary>
    public Task<long> KeyCountAsync() => Connection.GetServers()[0].DatabaseSizeAsync();

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
