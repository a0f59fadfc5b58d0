using Coordinator.Contracts.Capacity;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;

namespace Coordinator.Grains.Tests;

/// <summary>Hundreds of concurrent placements and retries from model grains spread over three silos.</summary>
public sealed class ConcurrentPlacementTests : IAsyncLifetime
{
    private static readonly int[] Capacities = [3, 5, 7, 11, 13];
    private CoordinatorCluster _c = null!;

    public async Task InitializeAsync() => _c = await CoordinatorCluster.StartAsync(3);

    public async Task DisposeAsync() => await _c.DisposeAsync();

    [Fact]
    public async Task Concurrent_placements_and_retries_never_exceed_capacity_and_never_lose_a_slot()
    {
        const int Models = 300;
        var baseModel = TestData.Id("base");
        for (var i = 0; i < Capacities.Length; i++)
        {
            await _c.Client.RegisterReplicaAsync($"rep-{i}", TestData.Replica(baseModel, Capacities[i]));
        }

        var token = TestData.Id("tok");
        var session = await _c.Client.OpenSessionAsync(token);
        var models = await Task.WhenAll(Enumerable.Range(0, Models).Select(i =>
            _c.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora(), $"mdl-{i}")));

        // Every model is placed three times at once: the original request and two retries.
        var attempts = models.SelectMany(m => Enumerable.Repeat(m.ModelId, 3)).OrderBy(_ => Random.Shared.Next()).ToList();
        var results = await Task.WhenAll(attempts.Select(async id =>
        {
            try
            {
                return (id, (await _c.Client.PlaceModelAsync(id)).ReplicaId);
            }
            catch (NoCapacityException)
            {
                return (id, (string?)null);
            }
        }));

        var total = Capacities.Sum();
        var granted = results.Where(r => r.Item2 is not null).GroupBy(r => r.id).ToList();
        Assert.Equal(total, granted.Count);
        Assert.All(granted, g => Assert.Single(g.Select(r => r.Item2).Distinct()));

        var snapshot = await _c.Client.GetCapacityAsync(baseModel);
        Assert.All(snapshot.Replicas, r => Assert.Equal(r.Capacity, r.Used));
        var placed = (await _c.Client.ListModelsAsync(session.SessionId)).Where(m => m.Status == ModelStatus.Placed).ToList();
        Assert.Equal(total, placed.Count);
        Assert.Equal(
            snapshot.Replicas.SelectMany(r => r.ModelIds.Select(m => (m, r.ReplicaId))).Order(),
            placed.Select(m => (m.ModelId, m.ReplicaId!)).Order());

        // Release everything concurrently (twice over): every slot comes back.
        await Task.WhenAll(placed.SelectMany(m => new[] { m.ModelId, m.ModelId }).Select(id => _c.Client.UnloadModelAsync(id)));
        var after = await _c.Client.GetCapacityAsync(baseModel);
        Assert.Equal(0, after.TotalUsed);
        Assert.Equal(total, after.TotalFree);
    }

    [Fact]
    public async Task Direct_reservations_with_the_same_key_from_many_callers_grant_one_slot()
    {
        var grain = _c.Grains.GetGrain<ILoraCapacityGrain>(TestData.Id("base"));
        await grain.UpsertReplicaAsync("a", 1);
        await grain.UpsertReplicaAsync("b", 1);
        var grants = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => grain.ReserveAsync(new SlotRequest("m", "m/1"))));
        Assert.Single(grants.Distinct());
        Assert.Equal(1, (await grain.GetSnapshotAsync()).TotalUsed);
    }
}
