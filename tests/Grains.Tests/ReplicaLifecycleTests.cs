using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Grains.Replicas;

namespace Coordinator.Grains.Tests;

public sealed class ReplicaLifecycleTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    private CoordinatorCluster C => fixture.Cluster;

    private async Task<string> PlacedModelAsync(string baseModel)
    {
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var model = await C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());
        return (await C.Client.PlaceModelAsync(model.ModelId)).ModelId;
    }

    [Fact]
    public async Task Register_heartbeat_drain_deregister()
    {
        var baseModel = TestData.Id("base");
        var id = TestData.Id("rep");
        var info = await C.Client.RegisterReplicaAsync(id, TestData.Replica(baseModel, 3) with { Endpoint = "127.0.0.1:9000" });
        Assert.Equal(ReplicaStatus.Active, info.Status);
        Assert.Equal("cpu", info.Device.Kind);
        Assert.Contains(baseModel, await C.Client.ListBaseModelsAsync());
        Assert.Equal([id], (await C.Client.ListReplicasAsync(baseModel)).Select(r => r.ReplicaId));

        C.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(C.Time.GetUtcNow(), (await C.Client.ReplicaHeartbeatAsync(id)).LastHeartbeatAt);

        var modelId = await PlacedModelAsync(baseModel);
        Assert.Equal(ReplicaStatus.Draining, (await C.Client.DrainReplicaAsync(id)).Status);
        var snapshot = await C.Client.GetCapacityAsync(baseModel);
        Assert.Equal(0, snapshot.TotalFree);
        Assert.Equal(1, snapshot.TotalUsed);
        var noCapacity = await Assert.ThrowsAsync<NoCapacityException>(() => PlacedModelAsync(baseModel));
        Assert.Contains("draining", noCapacity.Message, StringComparison.Ordinal);

        Assert.Equal(ReplicaStatus.Deregistered, (await C.Client.DeregisterReplicaAsync(id)).Status);
        var model = await C.Client.GetModelAsync(modelId);
        Assert.Equal(ModelStatus.Unloaded, model.Status);
        Assert.Equal(id, model.LastReplicaId);
        Assert.Empty((await C.Client.GetCapacityAsync(baseModel)).Replicas);
    }

    [Fact]
    public async Task A_replica_whose_host_silo_is_an_active_member_gets_a_grace_before_missed_heartbeats_mark_it_dead()
    {
        var baseModel = TestData.Id("base");
        var id = TestData.Id("rep");
        var liveSilo = C.Cluster.Silos[0].SiloAddress.ToParsableString();
        await C.Client.RegisterReplicaAsync(id, TestData.Replica(baseModel, 1) with { Endpoint = liveSilo });

        // Heartbeats refused for a while (another silo died) do not kill a trainer that membership still counts.
        C.Time.Advance(CoordinatorCluster.HeartbeatTimeout + TimeSpan.FromSeconds(1));
        Assert.Equal(ReplicaStatus.Active, (await C.Client.GetReplicaAsync(id)).Status);

        C.Time.Advance(CoordinatorCluster.HeartbeatTimeout * (ReplicaGrain.ActiveHostGrace - 1));
        Assert.Equal(ReplicaStatus.Dead, (await C.Client.GetReplicaAsync(id)).Status);
    }

    [Fact]
    public async Task Missed_heartbeats_mark_the_replica_dead_and_its_adapters_can_be_placed_elsewhere()
    {
        var baseModel = TestData.Id("base");
        var doomed = TestData.Id("rep");
        await C.Client.RegisterReplicaAsync(doomed, TestData.Replica(baseModel, 1));
        var modelId = await PlacedModelAsync(baseModel);
        Assert.Equal(doomed, (await C.Client.GetModelAsync(modelId)).ReplicaId);

        C.Time.Advance(CoordinatorCluster.HeartbeatTimeout + TimeSpan.FromSeconds(1));
        var survivor = TestData.Id("rep");
        await C.Client.RegisterReplicaAsync(survivor, TestData.Replica(baseModel, 1));

        Assert.Equal(ReplicaStatus.Dead, (await C.Client.GetReplicaAsync(doomed)).Status);
        var lost = await C.Client.GetModelAsync(modelId);
        Assert.Equal(ModelStatus.Unloaded, lost.Status);
        Assert.Contains(doomed, lost.FailureReason, StringComparison.Ordinal);

        var replaced = await C.Client.PlaceModelAsync(modelId);
        Assert.Equal(survivor, replaced.ReplicaId);
        var snapshot = await C.Client.GetCapacityAsync(baseModel);
        Assert.Equal([survivor], snapshot.Replicas.Select(r => r.ReplicaId));

        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.ReplicaHeartbeatAsync(doomed));
        Assert.Equal(CoordinatorErrorCode.InvalidState, ex.Code);

        // A dead replica may come back by registering again.
        Assert.Equal(ReplicaStatus.Active, (await C.Client.RegisterReplicaAsync(doomed, TestData.Replica(baseModel, 1))).Status);
    }

    [Theory]
    [InlineData(0, "LoraCapacity")]
    [InlineData(-1, "LoraCapacity")]
    [InlineData(100_000, "LoraCapacity")]
    public async Task Bad_capacity_is_rejected_and_registers_nothing(int capacity, string named)
    {
        var baseModel = TestData.Id("base");
        var id = TestData.Id("rep");
        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Grains.GetGrain<IReplicaGrain>(id).RegisterAsync(TestData.Replica(baseModel, capacity)));
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, ex.Code);
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
        Assert.Empty((await C.Client.GetCapacityAsync(baseModel)).Replicas);
        var missing = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.GetReplicaAsync(id));
        Assert.Equal(CoordinatorErrorCode.NotFound, missing.Code);
    }

    [Fact]
    public async Task Registering_an_active_replica_for_another_base_model_conflicts()
    {
        var id = TestData.Id("rep");
        var baseModel = TestData.Id("base");
        await C.Client.RegisterReplicaAsync(id, TestData.Replica(baseModel, 1));
        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.RegisterReplicaAsync(id, TestData.Replica(TestData.Id("other"), 1)));
        Assert.Equal(CoordinatorErrorCode.Conflict, ex.Code);
        Assert.Equal(baseModel, (await C.Client.GetReplicaAsync(id)).BaseModel);
    }
}
