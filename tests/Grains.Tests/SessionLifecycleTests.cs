using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Sessions;

namespace Coordinator.Grains.Tests;

public sealed class SessionLifecycleTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    private CoordinatorCluster C => fixture.Cluster;

    [Fact]
    public async Task Create_heartbeat_close_releases_models_and_slots()
    {
        var baseModel = TestData.Id("base");
        await C.Client.RegisterReplicaAsync(TestData.Id("rep"), TestData.Replica(baseModel, 4));
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token, new Dictionary<string, string> { ["user"] = "ada" });
        Assert.Equal(SessionStatus.Active, session.Status);
        Assert.Equal("ada", session.Metadata["user"]);

        var model = await C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());
        await C.Client.PlaceModelAsync(model.ModelId);
        Assert.Equal(1, (await C.Client.GetCapacityAsync(baseModel)).TotalUsed);

        C.Time.Advance(TimeSpan.FromMinutes(1));
        var beat = await C.Client.HeartbeatSessionAsync(session.SessionId, token);
        Assert.Equal(C.Time.GetUtcNow(), beat.LastHeartbeatAt);

        var closed = await C.Client.CloseSessionAsync(session.SessionId, token);
        Assert.Equal(SessionStatus.Closed, closed.Status);
        Assert.Equal(ModelStatus.Released, (await C.Client.GetModelAsync(model.ModelId)).Status);
        Assert.Equal(0, (await C.Client.GetCapacityAsync(baseModel)).TotalUsed);
        Assert.Equal(0, await C.Grains.GetGrain<IOwnerGrain>(OwnerTokens.Hash(token)).GetModelCountAsync());

        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.HeartbeatSessionAsync(session.SessionId, token));
        Assert.Equal(CoordinatorErrorCode.SessionEnded, ex.Code);
        var ex2 = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.PlaceModelAsync(model.ModelId));
        Assert.Equal(CoordinatorErrorCode.SessionEnded, ex2.Code);
    }

    [Fact]
    public async Task Create_is_idempotent_for_the_owner_and_a_conflict_for_anyone_else()
    {
        var token = TestData.Id("tok");
        var id = TestData.Id("ses");
        var first = await C.Client.OpenSessionAsync(token, sessionId: id);
        var again = await C.Client.OpenSessionAsync(token, sessionId: id);
        Assert.Equal(first.CreatedAt, again.CreatedAt);

        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.OpenSessionAsync("someone-else", sessionId: id));
        Assert.Equal(CoordinatorErrorCode.Conflict, ex.Code);

        var listed = await C.Client.ListSessionsAsync(token);
        Assert.Equal([id], listed.Select(s => s.SessionId));
    }

    [Fact]
    public async Task Wrong_token_is_unauthorized_and_changes_nothing()
    {
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.CloseSessionAsync(session.SessionId, "not-the-token"));
        Assert.Equal(CoordinatorErrorCode.Unauthorized, ex.Code);
        Assert.Equal(SessionStatus.Active, (await C.Client.GetSessionAsync(session.SessionId)).Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("bad\nid")]
    public async Task Malformed_ids_are_rejected_by_name_before_any_call(string id)
    {
        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.GetSessionAsync(id));
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, ex.Code);
        Assert.StartsWith("sessionId ", ex.Message, StringComparison.Ordinal);
        var ex2 = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.GetCapacityAsync(id));
        Assert.StartsWith("baseModel ", ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_session_is_not_found()
    {
        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.GetSessionAsync(TestData.Id("missing")));
        Assert.Equal(CoordinatorErrorCode.NotFound, ex.Code);
    }

    [Fact]
    public async Task Session_expires_after_idle_timeout_and_releases_its_models()
    {
        var baseModel = TestData.Id("base");
        await C.Client.RegisterReplicaAsync(TestData.Id("rep"), TestData.Replica(baseModel, 2));
        var token = TestData.Id("tok");
        var session = await C.Client.OpenSessionAsync(token);
        var model = await C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());
        await C.Client.PlaceModelAsync(model.ModelId);

        // A heartbeat inside the timeout keeps it alive across more than one timeout in total.
        C.Time.Advance(CoordinatorCluster.IdleTimeout * 0.8);
        await C.Client.HeartbeatSessionAsync(session.SessionId, token);
        C.Time.Advance(CoordinatorCluster.IdleTimeout * 0.8);
        Assert.Equal(SessionStatus.Active, (await C.Client.GetSessionAsync(session.SessionId)).Status);

        C.Time.Advance(CoordinatorCluster.IdleTimeout * 0.2 + TimeSpan.FromSeconds(1));
        Assert.Equal(SessionStatus.Expired, (await C.Client.GetSessionAsync(session.SessionId)).Status);
        Assert.Equal(ModelStatus.Released, (await C.Client.GetModelAsync(model.ModelId)).Status);
        Assert.Equal(0, (await C.Client.GetCapacityAsync(baseModel)).TotalUsed);

        var ex = await Assert.ThrowsAsync<CoordinatorException>(() => C.Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora()));
        Assert.Equal(CoordinatorErrorCode.SessionEnded, ex.Code);
    }
}
