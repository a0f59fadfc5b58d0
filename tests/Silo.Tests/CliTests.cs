using Coordinator.TestSupport;
using Coordinator.Hosting.Processes;

namespace Coordinator.Silo.Tests;

public sealed class CliTests
{
    [Fact]
    public async Task Check_config_exits_zero_on_valid_configuration()
    {
        var (exit, stdout, _) = await SiloCli.RunAsync("check-config");
        Assert.Equal(0, exit);
        Assert.Contains("Configuration is valid.", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_config_names_the_offending_field_and_exits_non_zero()
    {
        var (exit, _, stderr) = await SiloCli.RunAsync("check-config", "--silo-port", "0");
        Assert.Equal(2, exit);
        Assert.Contains("Cluster:SiloPort: must be between 1 and 65535 (got 0)", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_key_in_the_file_is_named()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, """{ "Http": { "Prot": 9000 } }""");
            var (exit, _, stderr) = await SiloCli.RunAsync("check-config", "--config", file);
            Assert.Equal(2, exit);
            Assert.Contains("Http:Prot: unknown key", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Print_config_redacts_the_redis_password()
    {
        var (exit, stdout, _) = await SiloCli.RunAsync("print-config", "--redis", "127.0.0.1:6390,password=s3cret");
        Assert.Equal(0, exit);
        Assert.Contains("127.0.0.1:6390,password=***", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_with_invalid_configuration_binds_no_port()
    {
        var http = FreePorts.Next();
        var gateway = FreePorts.Next();
        var (exit, _, stderr) = await SiloCli.RunAsync("run", "--http-port", http.ToString(System.Globalization.CultureInfo.InvariantCulture), "--gateway-port", gateway.ToString(System.Globalization.CultureInfo.InvariantCulture), "--silo-port", "0");
        Assert.Equal(2, exit);
        Assert.Contains("Cluster:SiloPort", stderr, StringComparison.Ordinal);
        Assert.True(FreePorts.IsFree(http));
        Assert.True(FreePorts.IsFree(gateway));
    }

    [Fact]
    public async Task A_port_in_use_is_named_and_the_silo_exits_non_zero()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var http = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (exit, _, stderr) = await SiloCli.RunAsync("run", "--http-port", http, "--silo-port", $"{FreePorts.Next()}", "--gateway-port", $"{FreePorts.Next()}");
        Assert.Equal(6, exit);
        Assert.Contains($"Http:Port {http}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clear_persistence_needs_redis()
    {
        var (exit, _, stderr) = await SiloCli.RunAsync("clear-persistence", "--yes");
        Assert.Equal(2, exit);
        Assert.Contains("needs Redis", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_redis_is_a_clear_error()
    {
        var port = FreePorts.Next();
        var (exit, _, stderr) = await SiloCli.RunAsync("run", "--redis", $"127.0.0.1:{port},password=pw", "--http-port", FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(3, exit);
        Assert.Contains($"Cannot reach Redis at 127.0.0.1:{port},password=***", stderr, StringComparison.Ordinal);
    }
}
