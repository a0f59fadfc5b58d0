using Coordinator.Contracts.Events;
using Coordinator.Events.Emitting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Events.Tests;

/// <summary>Warning and error log lines become run events once the host has started; a log storm is capped; the events pipeline's own lines are not kept.</summary>
public sealed class LogRecorderTests
{
    private readonly RecordingRunEventsDouble _events = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Warnings_and_errors_are_recorded_with_their_category_message_and_exception()
    {
        var recorder = new LogRecorder(() => _events, _time);
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(recorder));
        var logger = factory.CreateLogger("Coordinator.Grains.Models.ModelGrain");

#pragma warning disable CA1848, CA2254 // a test of what any log call becomes
        logger.LogWarning("before the host started");
        recorder.Start();
        logger.LogInformation("placed on {Replica}", "r-1");
        logger.LogWarning("slow storage: {Ms} ms", 250);
        logger.LogError(new TimeoutException("late"), "operation {Id} failed", "op-1");
        factory.CreateLogger("Coordinator.Events.Shipping.EventShipper").LogWarning("cannot ship");
#pragma warning restore CA1848, CA2254

        var logged = _events.Bodies.Cast<LogRecorded>().ToList();
        Assert.Equal([(LogSeverity.Warning, "slow storage: 250 ms"), (LogSeverity.Error, "operation op-1 failed")], logged.Select(l => (l.Severity, l.Message)));
        Assert.All(logged, l => Assert.Equal("Coordinator.Grains.Models.ModelGrain", l.Category));
        Assert.StartsWith("System.TimeoutException: late", logged[1].Exception, StringComparison.Ordinal);
    }

    [Fact]
    public void At_most_fifty_lines_a_second_are_kept()
    {
        var recorder = new LogRecorder(() => _events, _time);
        recorder.Start();
        var logger = recorder.CreateLogger("Orleans.Runtime.Watchdog");

#pragma warning disable CA1848, CA2254
        for (var i = 0; i < 80; i++)
        {
            logger.LogWarning("storm {I}", i);
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        logger.LogWarning("after the storm");
#pragma warning restore CA1848, CA2254

        Assert.Equal(LogRecorder.PerSecond + 1, _events.Bodies.Count);
        Assert.Equal("after the storm", ((LogRecorded)_events.Bodies[^1]).Message);
    }

    /// <summary>A test double of <see cref="IRunEvents"/> that keeps what is emitted.</summary>
    private sealed class RecordingRunEventsDouble : IRunEvents
    {
        public List<RunEventBody> Bodies { get; } = [];

        public void Emit(RunEventBody body, EventTags? tags = null) => Bodies.Add(body);
    }
}
