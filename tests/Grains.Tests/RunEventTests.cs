using System.Collections.Concurrent;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Training;
using Coordinator.Events.Emitting;

namespace Coordinator.Grains.Tests;

/// <summary>The coordinator grains record the facts of a run: state changes, placements, operations.</summary>
public sealed class RunEventTests : IAsyncLifetime
{
    private readonly RecordingEventsDouble _events = new();
    private CoordinatorCluster _c = null!;

    public async Task InitializeAsync() => _c = await CoordinatorCluster.StartAsync(1, events: _events);

    public async Task DisposeAsync() => await _c.DisposeAsync();

    [Fact]
    public async Task Sessions_replicas_and_models_record_their_changes_and_operations_their_submission_and_outcome()
    {
        var (modelId, replicaId, _) = await _c.ModelOnNewReplicaAsync();
        var model = await _c.Client.GetModelAsync(modelId);
        var ticket = await _c.Client.SubmitAsync(modelId, new OptimStepOperation(new AdamParams(1e-3)), "key-1");
        await _c.Client.WaitAsync(ticket);
        await _c.Client.DrainReplicaAsync(replicaId);

        var changes = _events.Recorded.Select(e => e.Body).OfType<StateChanged>().ToList();
        Assert.Contains(changes, c => c is { Entity: EntityKind.Session, From: null, To: "Active" } && c.EntityId == model.SessionId);
        Assert.Contains(changes, c => c is { Entity: EntityKind.Replica, From: null, To: "Active" } && c.EntityId == replicaId);
        Assert.Contains(changes, c => c is { Entity: EntityKind.Replica, From: "Active", To: "Draining" } && c.EntityId == replicaId);
        Assert.Equal(
            ["Created", "Placed", "Loaded"],
            changes.Where(c => c.Entity == EntityKind.Model && c.EntityId == modelId).Select(c => c.To));
        Assert.Single(_events.Recorded, e => e.Body is ModelPlaced && e.Tags.ModelId == modelId && e.Tags.ReplicaId == replicaId);

        var operation = _events.Recorded.Where(e => e.Tags.OperationId == ticket.OperationId).ToList();
        Assert.Collection(operation,
            e => Assert.Equal(new OperationSubmitted("optim_step", ticket.Sequence, "key-1"), e.Body),
            e => Assert.Equal(new OperationCompleted("optim_step", true, null, null), e.Body));
        Assert.All(operation, e => Assert.Equal((model.SessionId, modelId), (e.Tags.SessionId, e.Tags.ModelId)));
    }

    /// <summary>Test double of <see cref="IRunEvents"/>: keeps what the grains emit.</summary>
    private sealed class RecordingEventsDouble : IRunEvents
    {
        public ConcurrentQueue<Recorded> Recorded { get; } = new();

        public void Emit(RunEventBody body, EventTags? tags = null) => Recorded.Enqueue(new Recorded(body, tags ?? EventTags.None));
    }

    private sealed record Recorded(RunEventBody Body, EventTags Tags);
}
