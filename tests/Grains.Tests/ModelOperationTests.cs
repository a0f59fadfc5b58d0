using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Models;

namespace Coordinator.Grains.Tests;

/// <summary>The model grain's operation queue, against the trainer test double and fake time.</summary>
public sealed class ModelOperationTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    private static readonly ForwardOperation Forward = new([new Datum([1, 2], [2, 3], [1f, 1f])]);
    private static readonly OptimStepOperation Step = new(new AdamParams(1e-3));

    private CoordinatorCluster C => fixture.Cluster;

    private Task<(string ModelId, string ReplicaId, TrainerScript Script)> ModelOnNewReplicaAsync() => C.ModelOnNewReplicaAsync();

    [Fact]
    public async Task Submit_returns_at_once_and_operations_run_one_at_a_time_in_submission_order()
    {
        var (modelId, _, script) = await ModelOnNewReplicaAsync();
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var tickets = new List<OperationTicket>();
        for (var i = 0; i < 6; i++)
        {
            tickets.Add(await C.Client.SubmitAsync(modelId, i % 2 == 0 ? Forward : Step));
        }

        await script.Started.WaitAsync();
        var first = await C.Client.GetOperationAsync(modelId, tickets[0].OperationId);
        var last = await C.Client.GetOperationAsync(modelId, tickets[^1].OperationId);
        Assert.Equal((OperationStatus.Running, OperationStatus.Queued), (first.Status, last.Status));
        Assert.Equal(ModelStatus.Loaded, (await C.Client.GetModelAsync(modelId)).Status);

        script.Gate.SetResult();
        var results = new List<OperationResult>();
        foreach (var ticket in tickets)
        {
            results.Add(await C.Client.WaitAsync(ticket));
        }

        Assert.Equal([1L, 2, 3, 4, 5, 6], tickets.Select(t => t.Sequence));
        Assert.All(results, r => Assert.Equal(OperationStatus.Succeeded, r.Status));
        Assert.Equal([1L, 2, 3], results.Where(r => r.Output!.OptimStep is not null).Select(r => r.Output!.OptimStep!.Step));
        var executed = script.Log.Where(l => !l.StartsWith("load", StringComparison.Ordinal)).Select(l => l.Split(' ')[0]);
        Assert.Equal(tickets.Select(t => t.Kind), executed);
        Assert.Equal(3, (await C.Client.GetModelAsync(modelId)).StepCount);
    }

    [Fact]
    public async Task A_failed_operation_reports_its_error_and_the_next_ones_still_run()
    {
        var (modelId, _, _) = await ModelOnNewReplicaAsync();
        var refused = await C.Client.SubmitAsync(modelId, new ForwardOperation([.. Enumerable.Repeat(Forward.Batch[0], 13)]));
        var next = await C.Client.SubmitAsync(modelId, Forward);

        var failed = await C.Client.WaitAsync(refused);
        Assert.Equal((OperationStatus.Failed, CoordinatorErrorCode.InvalidArgument), (failed.Status, failed.ErrorCode));
        Assert.Contains("batches of 13", failed.ErrorMessage, StringComparison.Ordinal);
        var thrown = Assert.Throws<CoordinatorException>(() => failed.GetOutputOrThrow());
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, thrown.Code);
        Assert.Equal(OperationStatus.Succeeded, (await C.Client.WaitAsync(next)).Status);
    }

    [Fact]
    public async Task Unloading_fails_queued_operations_waits_for_the_running_one_and_frees_the_adapter()
    {
        var (modelId, _, script) = await ModelOnNewReplicaAsync();
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The first MaxDispatched operations are sent to the trainer; the one after them is still queued.
        var sent = await C.Client.SubmitAsync(modelId, [.. Enumerable.Repeat<TrainingOperation>(Forward, ModelGrain.MaxDispatched)]);
        var queued = await C.Client.SubmitAsync(modelId, Forward);
        await script.Started.WaitAsync();

        var unload = C.Client.UnloadModelAsync(modelId);
        var cancelled = await C.Client.WaitAsync(queued);
        Assert.Equal((OperationStatus.Failed, CoordinatorErrorCode.InvalidState), (cancelled.Status, cancelled.ErrorCode));
        Assert.False(unload.IsCompleted);

        script.Gate.SetResult();
        Assert.Equal(ModelStatus.Unloaded, (await unload).Status);
        Assert.All(await C.Client.WaitAsync(sent), r => Assert.Equal(OperationStatus.Succeeded, r.Status));
        Assert.Contains(script.Log, l => l.StartsWith("unload", StringComparison.Ordinal));
        Assert.Empty(script.Adapters);
    }

    [Fact]
    public async Task Await_returns_the_current_status_when_its_timeout_passes()
    {
        var (modelId, _, script) = await ModelOnNewReplicaAsync();
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ticket = await C.Client.SubmitAsync(modelId, Forward);
        await script.Started.WaitAsync();

        var wait = C.Grains.GetGrain<IModelGrain>(modelId).AwaitOperationsAsync([ticket.OperationId], TimeSpan.FromSeconds(5));
        while (!wait.IsCompleted)
        {
            C.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Yield();
        }

        Assert.Equal(OperationStatus.Running, Assert.Single(await wait).Status);
        script.Gate.SetResult();
        Assert.Equal(OperationStatus.Succeeded, (await C.Client.WaitAsync(ticket)).Status);
    }

    [Fact]
    public async Task Results_are_kept_for_the_retention_period_then_forgotten()
    {
        var (modelId, _, _) = await ModelOnNewReplicaAsync();
        var old = await C.Client.SubmitAsync(modelId, Forward);
        await C.Client.WaitAsync(old);

        C.Time.Advance(CoordinatorCluster.ResultRetention - TimeSpan.FromSeconds(1));
        await C.Client.WaitAsync(await C.Client.SubmitAsync(modelId, Forward));
        Assert.Equal(OperationStatus.Succeeded, (await C.Client.GetOperationAsync(modelId, old.OperationId)).Status);

        C.Time.Advance(TimeSpan.FromSeconds(2));
        await C.Client.WaitAsync(await C.Client.SubmitAsync(modelId, Forward));
        var gone = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.GetOperationAsync(modelId, old.OperationId));
        Assert.Equal(CoordinatorErrorCode.NotFound, gone.Code);
    }

    [Fact]
    public async Task A_full_queue_refuses_more_with_LimitExceeded()
    {
        var (modelId, _, script) = await ModelOnNewReplicaAsync();
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The first MaxDispatched operations go to the trainer; the limit counts those queued behind them.
        await C.Client.SubmitAsync(modelId, [.. Enumerable.Repeat<TrainingOperation>(Forward, ModelGrain.MaxDispatched)]);
        for (var i = 0; i < ModelGrain.MaxDispatched; i++)
        {
            await script.Arrived.WaitAsync();
        }

        for (var i = 0; i < CoordinatorCluster.MaxQueuedOperations; i++)
        {
            await C.Client.SubmitAsync(modelId, Forward);
        }

        var full = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.SubmitAsync(modelId, Forward));
        Assert.Equal(CoordinatorErrorCode.LimitExceeded, full.Code);
        Assert.Contains("Operations:MaxQueuedOperations", full.Message, StringComparison.Ordinal);
        script.Gate.SetResult();
    }

    [Fact]
    public async Task After_its_replica_is_lost_a_model_takes_only_load_state_which_places_it_again()
    {
        var (modelId, replica, script) = await ModelOnNewReplicaAsync();
        await C.Client.WaitAsync(await C.Client.SubmitAsync(modelId, Forward));
        var model = await C.Client.GetModelAsync(modelId);
        var spare = TestData.Id("rep");
        await C.Client.RegisterReplicaAsync(spare, TestData.Replica(model.BaseModel, 2));
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await C.Client.SubmitAsync(modelId, Forward);
        await script.Started.WaitAsync();
        var queued = await C.Client.SubmitAsync(modelId, Forward);

        // Only the death of the host it registered from counts (a replica id can re-register from a new process).
        await C.Grains.GetGrain<IReplicaGrain>(replica).ReportHostLostAsync("an-older-host", "test");
        Assert.Equal(ReplicaStatus.Active, (await C.Client.GetReplicaAsync(replica)).Status);
        await C.Grains.GetGrain<IReplicaGrain>(replica).ReportHostLostAsync($"host-of-{replica}", "test");

        Assert.Equal(ReplicaStatus.Dead, (await C.Client.GetReplicaAsync(replica)).Status);
        var lost = await C.Client.WaitAsync(queued);
        Assert.Equal((OperationStatus.Failed, CoordinatorErrorCode.ReplicaUnavailable), (lost.Status, lost.ErrorCode));
        var refused = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.SubmitAsync(modelId, Forward));
        Assert.Contains("load_state", refused.Message, StringComparison.Ordinal);

        // The call that was running when the host died ends (a real dead host fails it); then load_state runs.
        script.Gate.SetResult();
        var load = await C.Client.SubmitAsync(modelId, new LoadStateOperation("saved.state"));
        var after = await C.Client.SubmitAsync(modelId, Forward);
        Assert.Equal(7, (await C.Client.WaitAsync(load)).GetOutputOrThrow().Checkpoint!.Step);
        Assert.Equal(OperationStatus.Succeeded, (await C.Client.WaitAsync(after)).Status);
        var resumed = await C.Client.GetModelAsync(modelId);
        Assert.Equal((ModelStatus.Loaded, spare, 7L), (resumed.Status, resumed.ReplicaId, resumed.StepCount));
    }

    [Fact]
    public async Task A_trainer_that_refuses_the_adapter_fails_the_operation_and_the_slot_is_given_back()
    {
        var baseModel = TestData.Id("base");
        await C.Client.RegisterReplicaAsync(TestData.Id("rep"), TestData.Replica(baseModel, 1));
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var model = await C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora(), modelId: TestData.Id("refuse-load"));

        var failed = await C.Client.WaitAsync(await C.Client.SubmitAsync(model.ModelId, Forward));

        Assert.Equal((OperationStatus.Failed, CoordinatorErrorCode.NoCapacity), (failed.Status, failed.ErrorCode));
        var info = await C.Client.GetModelAsync(model.ModelId);
        Assert.Equal(ModelStatus.Failed, info.Status);
        Assert.Contains("the test double is full", info.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, (await C.Client.GetCapacityAsync(baseModel)).TotalUsed);
    }

    [Fact]
    public async Task A_submission_repeated_with_its_idempotency_key_gets_the_same_tickets_and_runs_once()
    {
        var (modelId, _, script) = await ModelOnNewReplicaAsync();

        var first = await C.Client.SubmitAsync(modelId, [Forward, Step], "key-1");
        var repeated = await C.Client.SubmitAsync(modelId, [Forward, Step], "key-1");
        await C.Client.WaitAsync(first);
        var afterwards = await C.Client.SubmitAsync(modelId, [Forward, Step], "key-1");
        var misused = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.SubmitAsync(modelId, [Step], "key-1"));

        Assert.Equal(first, repeated);
        Assert.Equal(first, afterwards);
        Assert.Equal(CoordinatorErrorCode.Conflict, misused.Code);
        Assert.Equal(1, script.Log.Count(l => l.StartsWith("optim_step", StringComparison.Ordinal)));
        Assert.Equal(1, (await C.Client.GetModelAsync(modelId)).StepCount);
    }
}
