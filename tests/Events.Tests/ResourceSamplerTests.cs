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
        using var sampler = new ResourceSampler(events, time, TimeSpan.FromSeconds(30), Path.GetTempPath(), gpus: () => []);
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
    public void A_snapshot_carries_the_GPUs_memory_in_use_and_their_mean_utilisation()
    {
        var events = new RecordingEventsDouble();
        using var sampler = new ResourceSampler(events, TimeProvider.System, TimeSpan.FromSeconds(30), Path.GetTempPath(),
            gpus: () => [new GpuReading(0, 0.5, 3L << 30, 80L << 30), new GpuReading(1, 1.0, 1L << 30, 80L << 30)]);

        sampler.Sample();

        var snapshot = Assert.IsType<ResourceSnapshot>(Assert.Single(events.Recorded));
        Assert.Equal(4L << 30, snapshot.GpuMemoryBytes);
        Assert.Equal(0.75, snapshot.GpuUtilization);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void GPU_readings_come_from_nvidia_smi_and_a_failing_late_or_missing_one_gives_none()
    {
        // Test doubles of nvidia-smi: scripts that answer as it does, fail, or hang.
        var directory = Directory.CreateTempSubdirectory("coordinator-nvidia-smi-double-").FullName;
        try
        {
            string Script(string name, string body)
            {
                var path = Path.Combine(directory, name);
                File.WriteAllText(path, $"#!/bin/sh\n{body}\n");
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                return path;
            }

            var answers = Script("answers", """
                [ "$1" = "--query-gpu=index,utilization.gpu,memory.used,memory.total" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 2
                printf '0, 87, 30000, 81920\n1, [N/A], 10, 81920\n'
                """);

            var gpu = Assert.Single(ResourceReadings.QueryGpus(answers, TimeSpan.FromSeconds(30)));
            Assert.Equal(new GpuReading(0, 0.87, 30000L << 20, 81920L << 20), gpu);
            Assert.Empty(ResourceReadings.QueryGpus(Script("fails", "echo 'NVIDIA-SMI has failed' >&2; exit 9"), TimeSpan.FromSeconds(30)));
            Assert.Empty(ResourceReadings.QueryGpus(Script("hangs", "exec sleep 60"), TimeSpan.FromMilliseconds(300)));
            Assert.Empty(ResourceReadings.QueryGpus(Path.Combine(directory, "missing"), TimeSpan.FromSeconds(30)));
            Assert.Empty(ResourceReadings.ParseGpus("garbage\n0, x, 1, 2\n"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
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
