using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Training;
using Coordinator.Silo.Persistence;
using StackExchange.Redis;
using Coordinator.Hosting.Processes;

namespace Coordinator.Silo.Tests;

/// <summary>Silos and clients against a real redis-server on loopback.</summary>
public sealed class RedisIntegrationTests(RedisFixture fixture) : IClassFixture<RedisFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => fixture.Redis.FlushAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task State_survives_stopping_every_silo_and_starting_new_ones()
    {
        var first = fixture.Settings();
        string sessionId, modelId, replicaId;
        await using (var silo = await RedisFixture.StartSiloAsync(first))
        {
            var (host, client) = await RedisFixture.ConnectAsync(first);
            using (host)
            {
                replicaId = (await client.RegisterReplicaAsync("replica-a", new RegisterReplicaRequest("tiny-gpt", 2, new DeviceDescription("cpu", "test", 1)))).ReplicaId;
                sessionId = (await client.OpenSessionAsync("token-1", new Dictionary<string, string> { ["purpose"] = "survive" })).SessionId;
                modelId = (await client.CreateModelAsync(sessionId, "token-1", "tiny-gpt", new LoraConfig(8, 16, ["qkv"], 7))).ModelId;
                await client.PlaceModelAsync(modelId);
                await host.StopAsync();
            }

            await silo.StopAsync();
        }

        // A different silo (other ports, same cluster) reads the same state from Redis.
        var second = fixture.Settings();
        await using (var silo = await RedisFixture.StartSiloAsync(second))
        {
            var (host, client) = await RedisFixture.ConnectAsync(second);
            using (host)
            {
                var session = await client.GetSessionAsync(sessionId);
                Assert.Equal(SessionStatus.Active, session.Status);
                Assert.Equal("survive", session.Metadata["purpose"]);
                var model = await client.GetModelAsync(modelId);
                Assert.Equal(ModelStatus.Placed, model.Status);
                Assert.Equal(replicaId, model.ReplicaId);
                Assert.Equal(8, model.Lora.Rank);
                var capacity = await client.GetCapacityAsync("tiny-gpt");
                Assert.Equal([modelId], capacity.Replicas.Single().ModelIds);
                Assert.Equal([sessionId], (await client.ListSessionsAsync("token-1")).Select(s => s.SessionId));
                await host.StopAsync();
            }

            await silo.StopAsync();
        }
    }

    [Fact]
    public async Task Drift_check_stores_the_signature_once_then_refuses_a_different_one_unless_accepted()
    {
        var db = fixture.Redis.Connection.GetDatabase();
        var original = fixture.Settings(serviceId: "svc-a").Cluster;
        Assert.False((await DriftCheck.RunAsync(db, original, acceptDrift: false)).Refused);
        Assert.False((await DriftCheck.RunAsync(db, original, acceptDrift: false)).Refused);

        var changed = fixture.Settings(serviceId: "svc-b").Cluster;
        var refused = await DriftCheck.RunAsync(db, changed, acceptDrift: false);
        Assert.True(refused.Refused);
        Assert.Contains("ServiceId: stored 'svc-a', configured 'svc-b'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("clear-persistence", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--accept-drift", refused.Message, StringComparison.Ordinal);

        Assert.False((await DriftCheck.RunAsync(db, changed, acceptDrift: true)).Refused);
        Assert.False((await DriftCheck.RunAsync(db, changed, acceptDrift: false)).Refused);
        Assert.True((await DriftCheck.RunAsync(db, original, acceptDrift: false)).Refused);
    }

    [Fact]
    public async Task Run_refuses_on_drift_before_binding_any_port()
    {
        var db = fixture.Redis.Connection.GetDatabase();
        await DriftCheck.RunAsync(db, fixture.Settings(serviceId: "svc-a").Cluster, acceptDrift: false);
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, """{ "Cluster": { "ServiceId": "svc-b", "ClusterId": "test-cluster" } }""");
            var http = RedisFixture.Port();
            var (exit, _, stderr) = await SiloCli.RunAsync("run", "--config", file, "--redis", fixture.Redis.ConnectionString, "--http-port", http, "--silo-port", RedisFixture.Port(), "--gateway-port", RedisFixture.Port());
            Assert.Equal(4, exit);
            Assert.Contains("ServiceId: stored 'svc-a', configured 'svc-b'", stderr, StringComparison.Ordinal);
            Assert.True(FreePorts.IsFree(int.Parse(http, System.Globalization.CultureInfo.InvariantCulture)));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Invalid_configuration_writes_no_redis_key()
    {
        var (exit, _, _) = await SiloCli.RunAsync("run", "--redis", fixture.Redis.ConnectionString, "--silo-port", "0");
        Assert.Equal(2, exit);
        Assert.Equal(0, await fixture.Redis.KeyCountAsync());
    }

    [Fact]
    public async Task Clear_persistence_asks_then_removes_only_this_services_keys()
    {
        var settings = fixture.Settings(serviceId: "svc-clear", clusterId: "clear-cluster");
        await using (var silo = await RedisFixture.StartSiloAsync(settings))
        {
            var (host, client) = await RedisFixture.ConnectAsync(settings);
            using (host)
            {
                await client.OpenSessionAsync("token");
                await host.StopAsync();
            }

            await silo.StopAsync();
        }

        var db = fixture.Redis.Connection.GetDatabase();
        await DriftCheck.RunAsync(db, settings.Cluster, acceptDrift: false);
        await db.StringSetAsync("another-service/state/x", "keep me");
        var before = await fixture.Redis.KeyCountAsync();
        Assert.True(before > 2);

        string[] args = ["clear-persistence", "--redis", fixture.Redis.ConnectionString, "--config", await ConfigFileAsync(settings)];
        var (declined, _, declinedErr) = await SiloCli.RunWithInputAsync("no\n", args);
        Assert.Equal(5, declined);
        Assert.Contains("nothing was deleted", declinedErr, StringComparison.Ordinal);
        Assert.Equal(before, await fixture.Redis.KeyCountAsync());

        var (confirmed, stdout, _) = await SiloCli.RunWithInputAsync("yes\n", args);
        Assert.Equal(0, confirmed);
        Assert.Contains($"Deleted {before - 1} key(s)", stdout, StringComparison.Ordinal);
        Assert.Equal(1, await fixture.Redis.KeyCountAsync());
        Assert.Equal("keep me", (string?)await db.StringGetAsync("another-service/state/x"));

        var (again, againOut, _) = await SiloCli.RunAsync([.. args, "--yes"]);
        Assert.Equal(0, again);
        Assert.Contains("Nothing to delete", againOut, StringComparison.Ordinal);
    }

    private static async Task<string> ConfigFileAsync(Silo.Configuration.SiloSettings settings)
    {
        var file = Path.Combine(Path.GetTempPath(), $"coordinator-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, $$"""{ "Cluster": { "ServiceId": "{{settings.Cluster.ServiceId}}", "ClusterId": "{{settings.Cluster.ClusterId}}" } }""");
        return file;
    }
}
