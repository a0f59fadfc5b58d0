using Coordinator.Contracts.Events;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordinator.Events.Tests;

/// <summary>One instance of every event of the catalogue, with every field set, and the serializer events travel with.</summary>
internal static class Samples
{
    public static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(RunEvent).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private static readonly DateTimeOffset At = new(2026, 11, 23, 14, 2, 7, TimeSpan.Zero);

    public static readonly IReadOnlyList<RunEventBody> Bodies =
    [
        new RunStarted(NodeRole.Trainer, "sha256:ab12", "1.4.0", At),
        new LogRecorded(LogSeverity.Error, "Coordinator.Grains.Models.ModelGrain", "operation failed", "System.TimeoutException: late"),
        new StateChanged(EntityKind.Model, "mdl-1", "Placed", "Loaded", null),
        new ModelPlaced("mdl-1/2"),
        new ReplicaDeclaredDead("membership declared its host dead"),
        new OperationSubmitted("forward_backward", 41, "sub-9"),
        new OperationCompleted("optim_step", false, "ReplicaUnavailable", "trainer gone"),
        new BatchesAssigned(["b-1", "b-2"]),
        new AdapterLoaded("mdl-1/2"),
        new AdapterUnloaded("mdl-1/2"),
        new TrainingStarted("forward_backward"),
        new TrainingFinished("forward_backward", 2.5, TimeSpan.FromMilliseconds(5.4), null),
        new ResultsDeserializeStarted(4096),
        new ResultsDeserialized(TimeSpan.FromMilliseconds(3)),
        new ResultsApplying(3),
        new CheckpointWritten("demo.state", 123456, 4500, TimeSpan.FromMilliseconds(40)),
        new CheckpointRead("demo.state", 4500, TimeSpan.FromMilliseconds(30)),
        new ParametersRequested("node-3"),
        new ConnectionChanged("node-3", ConnectionState.Disconnected, "reset by peer"),
        new GossipNeighboursChanged(["node-2", "node-3"]),
        new PeerLatencyChanged("node-3", TimeSpan.FromMilliseconds(12)),
        new BlobAdded(1 << 20),
        new TransferStarted(TransferKind.Blob, TransferDirection.Download, "node-5", 1 << 20),
        new TransferProgressed(1 << 19, 1 << 20),
        new TransferCompleted(1 << 20, true, null),
        new GossipSent("blob_announce", 2),
        new GossipReceived("blob_announce", "node-5"),
        new ResourceSnapshot(0.5, 1L << 30, 8L << 30, 0.9, 12345, 67890, 100L << 30),
    ];

    public static RunEvent Event(long sequence, RunEventBody? body = null, string node = "node-1") => new(
        new EventStamp("run-1", node, sequence, At.AddMilliseconds(sequence), new HybridTime(At.ToUnixTimeMilliseconds() + sequence, 0), "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        new EventTags(ModelId: "mdl-1", OperationId: $"op-mdl-1-{sequence}"),
        body ?? Bodies[(int)(sequence % Bodies.Count)]);
}
