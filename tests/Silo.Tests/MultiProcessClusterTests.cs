using Coordinator.Silo.Persistence;
using Coordinator.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using Coordinator.Hosting.Processes;

namespace Coordinator.Silo.Tests;

/// <summary>The real silo binary, several processes on one machine, one Redis.</summary>
public sealed class MultiProcessClusterTests(RedisFixture fixture) : IClassFixture<RedisFixture>, IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly string SiloAssembly = Path.Combine(AppContext.BaseDirectory, "Coordinator.Silo.dll");

    public Task InitializeAsync() => fixture.Redis.FlushAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private ChildProcess StartSilo(Configuration.SiloSettings s, params string[] extra) => ChildProcess.StartDotnet(
        SiloAssembly,
        [
            "--redis", fixture.Redis.ConnectionString, "--cluster-id", s.Cluster.ClusterId,
            "--silo-port", $"{s.Cluster.SiloPort}", "--gateway-port", $"{s.Cluster.GatewayPort}", "--http-port", $"{s.Http.Port}",
            .. extra,
        ],
        new Dictionary<string, string> { ["COORDINATOR_Cluster__ServiceId"] = s.Cluster.ServiceId });

    [Fact]
    public async Task Two_silo_processes_form_one_cluster_and_stop_cleanly_on_ctrl_c()
    {
        var a = fixture.Settings();
        var b = fixture.Settings();
        await using var siloA = StartSilo(a);
        await using var siloB = StartSilo(b);
        await siloA.WaitUntilHealthyAsync($"http://127.0.0.1:{a.Http.Port}/health/ready", StartTimeout);
        await siloB.WaitUntilHealthyAsync($"http://127.0.0.1:{b.Http.Port}/health/ready", StartTimeout);
        Assert.Contains("Coordinator silo started", siloA.Output, StringComparison.Ordinal);
        Assert.Contains($"gateway 127.0.0.1:{a.Cluster.GatewayPort}", siloA.Output, StringComparison.Ordinal);

        var (host, client) = await RedisFixture.ConnectAsync(a);
        using (host)
        {
            var management = host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
            var hosts = await management.GetHosts(onlyActive: true);
            Assert.Equal(2, hosts.Count);

            // Sessions created through either silo are one cluster's state.
            var session = await client.OpenSessionAsync("token");
            Assert.Equal(session.SessionId, (await client.GetSessionAsync(session.SessionId)).SessionId);
            await host.StopAsync();
        }

        Assert.Equal(0, await siloB.StopAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(0, await siloA.StopAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task Drift_refuses_to_start_and_accept_drift_starts()
    {
        var settings = fixture.Settings(serviceId: "svc-new");
        await DriftCheck.RunAsync(fixture.Redis.Connection.GetDatabase(), fixture.Settings(serviceId: "svc-old").Cluster, acceptDrift: false);

        await using var refused = StartSilo(settings);
        Assert.Equal(4, await refused.WaitForExitAsync(StartTimeout));
        Assert.Contains("ServiceId: stored 'svc-old', configured 'svc-new'", refused.Output, StringComparison.Ordinal);

        await using var accepted = StartSilo(settings, "--accept-drift");
        await accepted.WaitUntilHealthyAsync($"http://127.0.0.1:{settings.Http.Port}/health/ready", StartTimeout);
        Assert.Contains("Accepted configuration drift", accepted.Output, StringComparison.Ordinal);
        Assert.Equal(0, await accepted.StopAsync(TimeSpan.FromSeconds(60)));
    }
}
