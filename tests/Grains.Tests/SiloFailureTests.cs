using Coordinator.Client.Hosting;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Training;
using Coordinator.TestSupport;

namespace Coordinator.Grains.Tests;

/// <summary>Three silos on a real Redis backend; silos are killed (not stopped) while state exists.</summary>
public sealed class SiloFailureTests : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private CoordinatorCluster _c = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _c = await CoordinatorCluster.StartAsync(3, new PersistenceOptions { RedisConnectionString = _redis.ConnectionString });
    }

    public async Task DisposeAsync()
    {
        await _c.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task State_and_invariants_survive_killing_silos_mid_run()
    {
        var baseModel = TestData.Id("base");
        await _c.Client.RegisterReplicaAsync("r1", TestData.Replica(baseModel, 4));
        await _c.Client.RegisterReplicaAsync("r2", TestData.Replica(baseModel, 4));
        var token = TestData.Id("tok");
        var session = await _c.Client.OpenSessionAsync(token);
        var models = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            models.Add((await _c.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora(), $"m{i}")).ModelId);
        }

        // Place half, then kill two of the three silos while the other half is being placed.
        foreach (var id in models.Take(6))
        {
            await _c.Client.PlaceModelAsync(id);
        }

        var placing = Task.WhenAll(models.Skip(6).Select(async id =>
        {
            try
            {
                await _c.Client.PlaceModelAsync(id);
            }
            catch (Exception)
            {
                // Four of these find no capacity, and a call in flight on a killed silo may fail: all are retried below.
            }
        }));
        foreach (var silo in _c.Cluster.Silos.Skip(1).ToList())
        {
            await _c.Cluster.KillSiloAsync(silo);
        }

        await placing;
        await _c.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // Retry every placement: idempotent, so each model ends with exactly one slot.
        var outcomes = new List<ModelInfo>();
        foreach (var id in models)
        {
            try
            {
                outcomes.Add(await _c.Client.PlaceModelAsync(id));
            }
            catch (NoCapacityException)
            {
                outcomes.Add(await _c.Client.GetModelAsync(id));
            }
        }

        var snapshot = await _c.Client.GetCapacityAsync(baseModel);
        Assert.All(snapshot.Replicas, r => Assert.True(r.Used <= r.Capacity));
        Assert.Equal(8, snapshot.TotalUsed);
        var placed = outcomes.Where(m => m.Status == ModelStatus.Placed).ToList();
        Assert.Equal(8, placed.Count);
        Assert.Equal(
            snapshot.Replicas.SelectMany(r => r.ModelIds.Select(m => (m, r.ReplicaId))).Order(),
            placed.Select(m => (m.ModelId, m.ReplicaId!)).Order());
        Assert.Equal(SessionStatus.Active, (await _c.Client.GetSessionAsync(session.SessionId)).Status);
        Assert.Equal(12, (await _c.Client.ListModelsAsync(session.SessionId)).Count);

        // New silos join and the state is still there.
        await _c.Cluster.StartAdditionalSiloAsync();
        await _c.Cluster.WaitForLivenessToStabilizeAsync();
        await _c.Client.CloseSessionAsync(session.SessionId, token);
        Assert.Equal(0, (await _c.Client.GetCapacityAsync(baseModel)).TotalUsed);
    }

    [Fact]
    public async Task Operations_on_a_model_whose_silo_dies_finish_once_with_their_real_outcomes()
    {
        var (modelId, _, script) = await _c.ModelOnNewReplicaAsync();
        var batch = new ForwardBackwardOperation([new Datum([1, 2], [2, 3], [1f, 1f])]);
        var step = new OptimStepOperation(new AdamParams(1e-3));
        await _c.Client.RunAsync(modelId, batch); // placed and loaded

        // Three steps in one submission; the trainer holds the first, so the rest wait in the model's log and queue.
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tickets = await _c.Client.SubmitAsync(modelId, [batch, step, batch, step, batch, step], "three-steps");
        await script.Started.WaitAsync(TimeSpan.FromSeconds(30));
        var host = await _c.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(_c.Grains.GetGrain<IModelGrain>(modelId));
        await _c.Cluster.KillSiloAsync(_c.Cluster.Silos.Single(s => s.SiloAddress.Equals(host)));
        script.Gate.SetResult();

        // The model reactivates on another silo from its log, takes the outcome of what the trainer ran and runs the rest.
        var results = await _c.Client.WaitAsync(tickets, TimeSpan.FromSeconds(60));

        Assert.All(results, r => Assert.Equal(OperationStatus.Succeeded, r.Status));
        Assert.Equal([1L, 2, 3], results.Where(r => r.Output!.OptimStep is not null).Select(r => r.Output!.OptimStep!.Step));
        var ran = script.Log.Where(l => l.StartsWith("forward_backward", StringComparison.Ordinal) || l.StartsWith("optim_step", StringComparison.Ordinal)).ToList();
        Assert.Equal(7, ran.Count); // the placing run and the six, each once
        Assert.Equal(3, (await _c.Client.GetModelAsync(modelId)).StepCount);

        // The same submission again, after the failover: the same tickets, nothing runs again.
        var again = await _c.Client.SubmitAsync(modelId, [batch, step, batch, step, batch, step], "three-steps");
        Assert.Equal(tickets, again);
        Assert.Equal(7, script.Log.Count(l => l.StartsWith("forward_backward", StringComparison.Ordinal) || l.StartsWith("optim_step", StringComparison.Ordinal)));
    }
}
