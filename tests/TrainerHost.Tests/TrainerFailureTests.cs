using System.Diagnostics;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Coordinator.Training.Tasks;

namespace Coordinator.TrainerHost.Tests;

/// <summary>A trainer host killed mid-run (SIGKILL): the coordinator notices, releases, and the model resumes elsewhere.</summary>
public abstract class TrainerFailureTestsBase(TrainingCluster cluster)
{
    private static readonly AdditionTask Task = new(maxOperand: 20);
    private static readonly AdamParams Adam = new(LearningRate: 1e-2);

    [Fact]
    public async Task A_killed_trainer_is_declared_dead_its_adapters_released_and_the_model_resumes_from_saved_state_elsewhere()
    {
        await cluster.StartTrainerAsync("fo-1", "failover");
        await cluster.StartTrainerAsync("fo-2", "failover");
        var modelId = await cluster.CreateModelAsync("failover");
        var random = new Random(8);
        for (var i = 0; i < 3; i++)
        {
            await cluster.Client.ForwardBackwardAsync(modelId, Task.Batch(random, 16));
            await cluster.Client.OptimStepAsync(modelId, Adam);
        }

        var saved = await cluster.Client.SaveStateAsync(modelId, "failover-at-3.state");
        var victim = (await cluster.Client.GetModelAsync(modelId)).ReplicaId!;
        var survivor = victim == "fo-1" ? "fo-2" : "fo-1";

        // Work in flight when the host dies: submitted in one call, it takes the trainer far longer (200 operations of 64
        // examples) than the kill takes to follow, so the last of it is still queued then.
        var inFlight = await cluster.Client.SubmitAsync(
            modelId, [.. Enumerable.Range(0, 200).Select(_ => (TrainingOperation)new ForwardBackwardOperation(Task.Batch(random, 64)))]);

        var killedAt = Stopwatch.StartNew();
        cluster.Trainer(victim).Kill();
        await TrainingCluster.WaitUntilAsync(
            async () => (await cluster.Client.GetReplicaAsync(victim)).Status == ReplicaStatus.Dead,
            TrainingCluster.HeartbeatTimeout + TimeSpan.FromSeconds(20),
            $"replica {victim} to be declared dead");
        Console.WriteLine($"Replica {victim} declared dead {killedAt.ElapsedMilliseconds} ms after SIGKILL (heartbeat timeout {TrainingCluster.HeartbeatTimeout}, redis: {cluster.UseRedis}).");

        var lost = await cluster.Client.GetModelAsync(modelId);
        Assert.Equal((ModelStatus.Unloaded, null, victim), (lost.Status, lost.ReplicaId, lost.LastReplicaId));
        Assert.Equal(saved.Path, lost.LastSavedStatePath);
        Assert.DoesNotContain((await cluster.Client.GetCapacityAsync("failover")).Replicas, r => r.ReplicaId == victim);
        var last = await cluster.Client.WaitAsync(inFlight[^1], TimeSpan.FromMinutes(1));
        Assert.Equal((OperationStatus.Failed, CoordinatorErrorCode.ReplicaUnavailable), (last.Status, last.ErrorCode));

        // Training on is refused until state is loaded: the adapter's weights died with the process.
        var refused = await Assert.ThrowsAsync<CoordinatorException>(() => cluster.Client.ForwardBackwardAsync(modelId, Task.Batch(random, 16)));
        Assert.Equal(CoordinatorErrorCode.InvalidState, refused.Code);
        Assert.Contains("load_state", refused.Message, StringComparison.Ordinal);

        var loaded = await cluster.Client.LoadStateAsync(modelId, lost.LastSavedStatePath!);
        var resumed = await cluster.Client.GetModelAsync(modelId);
        Assert.Equal((3L, ModelStatus.Loaded, survivor), (loaded.Step, resumed.Status, resumed.ReplicaId));
        await cluster.Client.ForwardBackwardAsync(modelId, Task.Batch(random, 16));
        Assert.Equal(4, (await cluster.Client.OptimStepAsync(modelId, Adam)).Step);
    }
}

/// <summary>On the embedded default.</summary>
public sealed class TrainerFailureTests(TrainingCluster cluster) : TrainerFailureTestsBase(cluster), IClassFixture<TrainingCluster>;

/// <summary>On Redis clustering and storage.</summary>
public sealed class TrainerFailureOnRedisTests(RedisTrainingCluster cluster) : TrainerFailureTestsBase(cluster), IClassFixture<RedisTrainingCluster>;
