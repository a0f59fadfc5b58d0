using System.Diagnostics;
using StackExchange.Redis;
using Coordinator.ServiceDefaults.Processes;

namespace Coordinator.TestSupport;

/// <summary>
/// A real redis-server on a free loopback port, without persistence, owned by the test run. Integration tests use
/// it as the cluster's shared backend. Fails loudly if redis-server is not installed (.ci/run installs it).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private RedisServer(Process process, string directory, int port, IConnectionMultiplexer connection)
    {
        _process = process;
        _directory = directory;
        Port = port;
        Connection = connection;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>A connection for assertions (key counts, flushing between tests).</summary>
    public IConnectionMultiplexer Connection { get; }

    public static async Task<RedisServer> StartAsync()
    {
        var executable = FindExecutable("redis-server")
            ?? throw new InvalidOperationException("redis-server is not on PATH; install it (apt-get install -y redis-server) to run the integration tests.");
        var port = FreePorts.Next();
        var directory = Directory.CreateTempSubdirectory("coordinator-redis-").FullName;
        var start = new ProcessStartInfo(executable)
        {
            ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory },
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
                var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},allowAdmin=true,connectTimeout=1000");
                return new RedisServer(process, directory, port, connection);
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

    private static string? FindExecutable(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
