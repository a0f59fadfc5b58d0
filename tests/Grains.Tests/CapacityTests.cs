using Coordinator.Contracts.Capacity;
using Coordinator.Contracts.Errors;

namespace Coordinator.Grains.Tests;

public sealed class CapacityTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    private CoordinatorCluster C => fixture.Cluster;

    [Fact]
    public async Task No_replica_gives_a_clear_no_capacity_answer()
    {
        var baseModel = TestData.Id("base");
        var ex = await Assert.ThrowsAsync<NoCapacityException>(() =>
            C.Grains.GetGrain<ILoraCapacityGrain>(baseModel).ReserveAsync(new SlotRequest("m", "m/1")));
        Assert.Equal(CoordinatorErrorCode.NoCapacity, ex.Code);
        Assert.Contains("no replica", ex.Message, StringComparison.Ordinal);
        Assert.Equal(baseModel, ex.Snapshot.BaseModel);
    }

    [Fact]
    public async Task Least_loaded_replica_first_and_full_replicas_are_reported()
    {
        var grain = C.Grains.GetGrain<ILoraCapacityGrain>(TestData.Id("base"));
        await grain.UpsertReplicaAsync("a", 1);
        await grain.UpsertReplicaAsync("b", 3);
        // b has 3 free, then 2 free (still more than a's 1), then a tie at 1 free broken by id, then only b is left.
        Assert.Equal("b", (await grain.ReserveAsync(new SlotRequest("m1", "k1"))).ReplicaId);
        Assert.Equal("b", (await grain.ReserveAsync(new SlotRequest("m2", "k2"))).ReplicaId);
        Assert.Equal("a", (await grain.ReserveAsync(new SlotRequest("m3", "k3"))).ReplicaId);
        Assert.Equal("b", (await grain.ReserveAsync(new SlotRequest("m4", "k4"))).ReplicaId);
        var ex = await Assert.ThrowsAsync<NoCapacityException>(() => grain.ReserveAsync(new SlotRequest("m5", "k5")));
        Assert.Contains("a: 1/1 used; b: 3/3 used", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, ex.Snapshot.TotalFree);
    }

    [Fact]
    public async Task A_retry_gets_the_same_slot_and_a_stale_release_frees_nothing()
    {
        var grain = C.Grains.GetGrain<ILoraCapacityGrain>(TestData.Id("base"));
        await grain.UpsertReplicaAsync("a", 2);
        var first = await grain.ReserveAsync(new SlotRequest("m", "m/1"));
        var retry = await grain.ReserveAsync(new SlotRequest("m", "m/1"));
        Assert.Equal(first, retry);
        Assert.Equal(1, (await grain.GetSnapshotAsync()).TotalUsed);

        Assert.True(await grain.ReleaseAsync("m", "m/1"));
        var second = await grain.ReserveAsync(new SlotRequest("m", "m/2"));
        Assert.False(await grain.ReleaseAsync("m", "m/1"));
        Assert.Equal(1, (await grain.GetSnapshotAsync()).TotalUsed);
        Assert.True(await grain.ReleaseAsync("m", second.IdempotencyKey));
        Assert.Equal(0, (await grain.GetSnapshotAsync()).TotalUsed);
    }

    [Fact]
    public async Task Lowering_capacity_below_use_evicts_nothing_but_blocks_new_grants()
    {
        var grain = C.Grains.GetGrain<ILoraCapacityGrain>(TestData.Id("base"));
        await grain.UpsertReplicaAsync("a", 2);
        await grain.ReserveAsync(new SlotRequest("m1", "k1"));
        await grain.ReserveAsync(new SlotRequest("m2", "k2"));
        await grain.UpsertReplicaAsync("a", 1);
        var snapshot = await grain.GetSnapshotAsync();
        Assert.Equal(2, snapshot.TotalUsed);
        Assert.Equal(0, snapshot.TotalFree);
        await Assert.ThrowsAsync<NoCapacityException>(() => grain.ReserveAsync(new SlotRequest("m3", "k3")));
    }
}
