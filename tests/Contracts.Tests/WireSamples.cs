using Coordinator.Contracts.Capacity;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;

namespace Coordinator.Contracts.Tests;

/// <summary>One fixed instance of every message type that crosses the wire, with every field set.</summary>
internal static class WireSamples
{
    private static readonly DateTimeOffset At = new(2026, 11, 23, 14, 2, 7, 125, TimeSpan.Zero);
    private static readonly StepTiming Timing = new(At, At.AddMilliseconds(1.5), At.AddMilliseconds(7.25));
    private static readonly LoraConfig Lora = new(8, 16, ["qkv", "mlp_fc"], 7);
    private static readonly Datum Datum = new([1, 2, 3], [2, 3, 4], [0f, 1f, 0.5f]);

    public static IReadOnlyDictionary<string, object> All { get; } = new Dictionary<string, object>(StringComparer.Ordinal)
    {
        ["Datum"] = Datum,
        ["AdamParams"] = new AdamParams(1e-3, 0.8, 0.99, 1e-6, 0.01, 1.0),
        ["SamplingParams"] = new SamplingParams(8, 0.7, 0.9, 42, 2, [10]),
        ["LoraConfig"] = Lora,
        ["BaseModelSpec"] = new BaseModelSpec(2, 64, 4, 32, 256, 1234),
        ["ForwardOperation"] = new ForwardOperation([Datum]),
        ["ForwardBackwardOperation"] = new ForwardBackwardOperation([Datum, Datum]),
        ["OptimStepOperation"] = new OptimStepOperation(new AdamParams(4e-3, GradClipNorm: 1.0)),
        ["SampleOperation"] = new SampleOperation([49, 43, 50, 61], new SamplingParams(4, 0, StopTokens: [10])),
        ["SaveStateOperation"] = new SaveStateOperation("adapter.state", false),
        ["LoadStateOperation"] = new LoadStateOperation("adapter.state", true),
        ["OperationTicket"] = new OperationTicket("mdl-1", "op-ab12cd34-7", "optim_step", 7),
        ["OperationResult"] = new OperationResult(
            new OperationTicket("mdl-1", "op-ab12cd34-8", "sample", 8), OperationStatus.Succeeded,
            new OperationOutput(
                new ForwardResult(2.5, 96, Timing), new OptimStepResult(12, 0.75, Timing),
                new SampleResult([new SampledSequence([52, 10], [-0.5f, -0.25f], StopReason.StopToken)], Timing),
                new CheckpointResult("adapter.state", true, 12, Timing)),
            null, null, At, At.AddSeconds(1)),
        ["FailedOperationResult"] = new OperationResult(
            new OperationTicket("mdl-1", "op-ab12cd34-9", "forward", 9), OperationStatus.Failed, null,
            Errors.CoordinatorErrorCode.ReplicaUnavailable, "trainer gone", At, At.AddSeconds(2)),
        ["OperationOrder"] = new OperationOrder(7, 5),
        ["RecordedOutcome"] = new RecordedOutcome(6, null, CoordinatorErrorCode.InvalidArgument, "bad"),
        ["AdapterProgress"] = new AdapterProgress(6, [new RecordedOutcome(6, null, CoordinatorErrorCode.InvalidArgument, "bad")]),
        ["CreateModelRequest"] = new CreateModelRequest("byte-gpt-tiny", Lora),
        ["ModelInfo"] = new ModelInfo("mdl-1", "ses-1", "byte-gpt-tiny", Lora, ModelStatus.Loaded, "t1", "t0", 12, "adapter.state", "why", At, At.AddMinutes(1)),
        ["CreateSessionRequest"] = new CreateSessionRequest("owner", new Dictionary<string, string> { ["purpose"] = "demo" }),
        ["SessionInfo"] = new SessionInfo("ses-1", SessionStatus.Active, new Dictionary<string, string> { ["purpose"] = "demo" }, At, At.AddSeconds(5), At.AddMinutes(5), ["mdl-1"]),
        ["RegisterReplicaRequest"] = new RegisterReplicaRequest("byte-gpt-tiny", 4, new DeviceDescription("cpu", "X64 x2", 1 << 30), "127.0.0.1:11112@1"),
        ["ReplicaInfo"] = new ReplicaInfo("t1", "byte-gpt-tiny", 4, new DeviceDescription("cuda", "H100", 80L << 30), "127.0.0.1:11112@1", ReplicaStatus.Draining, At, At.AddSeconds(3)),
        ["SlotRequest"] = new SlotRequest("mdl-1", "mdl-1/3", "t1"),
        ["SlotGrant"] = new SlotGrant("mdl-1", "t1", "mdl-1/3"),
        ["CapacitySnapshot"] = new CapacitySnapshot("byte-gpt-tiny", [new ReplicaSlots("t1", 4, 1, false, ["mdl-1"])]),
        ["RunEvent.TrainingFinished"] = new RunEvent(
            new EventStamp("run-1", "trainer-1", 42, At, new HybridTime(At.ToUnixTimeMilliseconds(), 3), "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
            new EventTags("ses-1", "mdl-1", "op-mdl-1-7", "trainer-1", "b-7", "blake3:ab", "tr-1"),
            new TrainingFinished("forward_backward", 2.5, TimeSpan.FromMilliseconds(5.25), null)),
        ["RunEvent.ResourceSnapshot"] = new RunEvent(
            new EventStamp("run-1", "silo-1", 1, At, new HybridTime(At.ToUnixTimeMilliseconds(), 0), null, null),
            EventTags.None,
            new ResourceSnapshot(0.5, 1L << 30, null, null, 12345, 67890, 100L << 30)),
        ["RunEvent.StateChanged"] = new RunEvent(
            new EventStamp("run-1", "silo-1", 2, At, new HybridTime(At.ToUnixTimeMilliseconds(), 1), null, null),
            new EventTags(ModelId: "mdl-1"),
            new StateChanged(EntityKind.Model, "mdl-1", "Placed", "Loaded", null)),
    };
}
