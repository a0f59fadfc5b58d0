using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Training;

namespace Coordinator.Grains.Tests;

public sealed class ModelLifecycleTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    private CoordinatorCluster C => fixture.Cluster;

    [Fact]
    public async Task Created_placed_loaded_unloaded_then_placed_again_on_the_same_replica()
    {
        var baseModel = TestData.Id("base");
        var r1 = TestData.Id("rep");
        var r2 = TestData.Id("rep");
        await C.Client.RegisterReplicaAsync(r1, TestData.Replica(baseModel, 2));
        await C.Client.RegisterReplicaAsync(r2, TestData.Replica(baseModel, 2));
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);

        var model = await C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());
        Assert.Equal(ModelStatus.Created, model.Status);
        Assert.Null(model.ReplicaId);

        var placed = await C.Client.PlaceModelAsync(model.ModelId);
        Assert.Equal(ModelStatus.Placed, placed.Status);
        Assert.Contains(placed.ReplicaId, new[] { r1, r2 });
        Assert.Equal(placed.ReplicaId, (await C.Client.PlaceModelAsync(model.ModelId)).ReplicaId);

        var wrong = placed.ReplicaId == r1 ? r2 : r1;

        // The first operation loads the adapter on its replica (the trainer test double here).
        await C.Client.ForwardAsync(model.ModelId, [new Datum([1], [2], [1f])]);
        var loaded = await C.Client.GetModelAsync(model.ModelId);
        Assert.Equal((ModelStatus.Loaded, placed.ReplicaId), (loaded.Status, loaded.ReplicaId));

        var unloaded = await C.Client.UnloadModelAsync(model.ModelId);
        Assert.Equal(ModelStatus.Unloaded, unloaded.Status);
        Assert.Equal(placed.ReplicaId, unloaded.LastReplicaId);
        Assert.Equal(0, (await C.Client.GetCapacityAsync(baseModel)).TotalUsed);

        // Sticky: the last replica wins while it has a free slot, although the other one now has far more free slots.
        await C.Client.RegisterReplicaAsync(wrong, TestData.Replica(baseModel, 10));
        var again = await C.Client.PlaceModelAsync(model.ModelId);
        Assert.Equal(placed.ReplicaId, again.ReplicaId);

        Assert.Equal([model.ModelId], (await C.Client.ListModelsAsync(session.SessionId)).Select(m => m.ModelId));
    }

    [Fact]
    public async Task Step_count_and_last_saved_state_follow_the_operations()
    {
        var baseModel = TestData.Id("base");
        await C.Client.RegisterReplicaAsync(TestData.Id("rep"), TestData.Replica(baseModel, 1));
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var model = await C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());
        for (var i = 0; i < 2; i++)
        {
            await C.Client.ForwardBackwardAsync(model.ModelId, [new Datum([1], [2], [1f])]);
            await C.Client.OptimStepAsync(model.ModelId, new AdamParams(1e-3));
        }

        await C.Client.SaveStateAsync(model.ModelId, "/tmp/a.state");
        var info = await C.Client.GetModelAsync(model.ModelId);
        Assert.Equal((2L, "/tmp/a.state"), (info.StepCount, info.LastSavedStatePath));

        // load_state sets the step to the loaded state's (the test double reports 7); a load is not a save.
        await C.Client.LoadStateAsync(model.ModelId, "/tmp/b.state");
        info = await C.Client.GetModelAsync(model.ModelId);
        Assert.Equal((7L, "/tmp/a.state"), (info.StepCount, info.LastSavedStatePath));
    }

    public static TheoryData<string, LoraConfig, string> BadModels => new()
    {
        { "base", new LoraConfig(0, 16, ["qkv"], 1), "Lora.Rank" },
        { "base", new LoraConfig(-4, 16, ["qkv"], 1), "Lora.Rank" },
        { "base", new LoraConfig(8, 0, ["qkv"], 1), "Lora.Alpha" },
        { "base", new LoraConfig(8, double.NaN, ["qkv"], 1), "Lora.Alpha" },
        { "base", new LoraConfig(8, 16, [], 1), "Lora.TargetModules" },
        { "base", new LoraConfig(8, 16, ["ffn"], 1), "unknown module 'ffn'" },
        { "base", new LoraConfig(8, 16, ["qkv", "qkv"], 1), "repeat" },
        { "", new LoraConfig(8, 16, ["qkv"], 1), "BaseModel" },
        { "  ", new LoraConfig(8, 16, ["qkv"], 1), "BaseModel" },
    };

    [Theory]
    [MemberData(nameof(BadModels))]
    public async Task Bad_model_arguments_are_rejected_without_partial_state(string baseModel, LoraConfig lora, string named)
    {
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var modelId = TestData.Id("mdl");

        // Through the facade (checked before any call) and straight at the grain (checked again there).
        var viaClient = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.CreateModelAsync(session.SessionId, token, baseModel, lora, modelId));
        var viaGrain = await Assert.ThrowsAsync<CoordinatorException>(() =>
            C.Grains.GetGrain<ISessionGrain>(session.SessionId).CreateModelAsync(token, modelId, new CreateModelRequest(baseModel, lora)));
        foreach (var ex in new[] { viaClient, viaGrain })
        {
            Assert.Equal(CoordinatorErrorCode.InvalidArgument, ex.Code);
            Assert.Contains(named, ex.Message, StringComparison.Ordinal);
        }

        Assert.Empty(await C.Client.ListModelsAsync(session.SessionId));
        Assert.Equal(0, await C.Grains.GetGrain<IOwnerGrain>(OwnerTokens.Hash(token)).GetModelCountAsync());
        var missing = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.GetModelAsync(modelId));
        Assert.Equal(CoordinatorErrorCode.NotFound, missing.Code);
    }

    [Fact]
    public async Task Per_token_model_limit_holds_across_sessions_and_frees_up_when_a_session_ends()
    {
        await using var cluster = await CoordinatorCluster.StartAsync(1, maxModelsPerToken: 2);
        var token = TestData.Id("tok");
        var s1 = await cluster.Client.OpenSessionAsync(token);
        var s2 = await cluster.Client.OpenSessionAsync(token);
        await cluster.Client.CreateModelAsync(s1.SessionId, token, "base", TestData.Lora());
        await cluster.Client.CreateModelAsync(s2.SessionId, token, "base", TestData.Lora());

        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => cluster.Client.CreateModelAsync(s2.SessionId, token, "base", TestData.Lora()));
        Assert.Equal(CoordinatorErrorCode.LimitExceeded, ex.Code);
        Assert.Contains("MaxModelsPerToken", ex.Message, StringComparison.Ordinal);
        Assert.Single(await cluster.Client.ListModelsAsync(s2.SessionId));

        // Another token is not affected, and closing a session gives the slot back.
        await cluster.Client.CreateModelAsync((await cluster.Client.OpenSessionAsync("other")).SessionId, "other", "base", TestData.Lora());
        await cluster.Client.CloseSessionAsync(s1.SessionId, token);
        await cluster.Client.CreateModelAsync(s2.SessionId, token, "base", TestData.Lora());
    }

    [Fact]
    public async Task Creating_the_same_model_id_twice_is_idempotent_but_other_parameters_conflict()
    {
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var id = TestData.Id("mdl");
        var first = await C.Client.CreateModelAsync(session.SessionId, token, "base", TestData.Lora(), id);
        var again = await C.Client.CreateModelAsync(session.SessionId, token, "base", TestData.Lora(), id);
        Assert.Equal(first.CreatedAt, again.CreatedAt);
        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.CreateModelAsync(session.SessionId, token, "base", TestData.Lora(rank: 4), id));
        Assert.Equal(CoordinatorErrorCode.Conflict, ex.Code);

        var other = await C.Client.OpenSessionAsync(token);
        var ex2 = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.CreateModelAsync(other.SessionId, token, "base", TestData.Lora(), id));
        Assert.Equal(CoordinatorErrorCode.Conflict, ex2.Code);
        Assert.Equal(1, await C.Grains.GetGrain<IOwnerGrain>(OwnerTokens.Hash(token)).GetModelCountAsync());
    }
}
