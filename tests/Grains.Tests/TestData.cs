using Coordinator.Contracts.Replicas;
using Coordinator.Contracts.Training;

namespace Coordinator.Grains.Tests;

internal static class TestData
{
    private static int _counter;

    /// <summary>A unique id per call, so tests sharing a cluster never collide.</summary>
    public static string Id(string prefix) => $"{prefix}-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid():N}";

    public static LoraConfig Lora(int rank = 8) => new(rank, 16, ["qkv"], 42);

    public static RegisterReplicaRequest Replica(string baseModel, int capacity) =>
        new(baseModel, capacity, new DeviceDescription("cpu", "test-cpu", 1L << 30));
}
