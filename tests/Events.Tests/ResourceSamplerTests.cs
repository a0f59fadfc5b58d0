using System.Collections.Concurrent;
using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;
using Coordinator.Events.Resources;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Events.Tests;

/// <summary>Every node records a snapshot of its resources each period.</summary>
public sealed class ResourceSamplerTests
{
    [Fact]
    public async Task A_snapshot_is_recorded_each_period_with_this_process_and_machine_figures()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var events = new RecordingEventsDouble();
        using var sampler = new ResourceSampler(events, time, TimeSpan.FromSeconds(30), Path.GetTempPath());
        await sampler.StartAsync(CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(events.Recorded);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await events.Arrived.WaitAsync(TimeSpan.FromSeconds(10)), "no snapshot after one period");
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(await events.Arrived.WaitAsync(TimeSpan.FromSeconds(10)), "no snapshot after two periods");
        await sampler.StopAsync(CancellationToken.None);

        var snapshots = events.Recorded.Select(e => Assert.IsType<ResourceSnapshot>(e)).ToList();
        Assert.Equal(2, snapshots.Count);
        Assert.All(snapshots, s =>
        {
            Assert.InRange(s.CpuUtilization, 0, 1);
            Assert.True(s.MemoryBytes > 0);
            Assert.True(s.DiskBytesAvailable > 0);
            Assert.Null(s.GpuMemoryBytes);
        });
    }

    [Fact]
    public void Network_counters_add_up_every_interface_but_loopback()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file,
            [
                "Inter-|   Receive                                                |  Transmit",
                " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
                "    lo: 9000      10    0    0    0     0          0         0     9000      10    0    0    0     0       0          0",
                "  eth0: 1000      10    0    0    0     0          0         0     2000      10    0    0    0     0       0          0",
                "  eth1:  300       3    0    0    0     0          0         0       40       1    0    0    0     0       0          0",
            ]);

            var (sent, received) = ResourceReadings.NetworkCounters(file);

            Assert.Equal(2040, sent);
            Assert.Equal(1300, received);
            Assert.Equal((null, null), ResourceReadings.NetworkCounters(file + ".missing"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Test double of <see cref="IRunEvents"/>: keeps what is emitted and signals each arrival.</summary>
    private sealed class RecordingEventsDouble : IRunEvents
    {
        public ConcurrentQueue<RunEventBody> Recorded { get; } = new();

        public SemaphoreSlim Arrived { get; } = new(0);

        public void Emit(RunEventBody body, EventTags? tags = null)
        {
            Recorded.Enqueue(body);
            Arrived.Release();
        }
    }
}
