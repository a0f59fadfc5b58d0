using Coordinator.Contracts.Events;
using Coordinator.Contracts.Telemetry;
using Coordinator.Events.Shipping;
using Coordinator.TestSupport;
using Microsoft.Extensions.Logging;

namespace Coordinator.Events.Tests;

/// <summary>Stored events become log records for the OTLP export: one each, with their stamp and fields as attributes.</summary>
public sealed class EventLogExportTests
{
    [Fact]
    public void Each_event_is_one_record_with_its_stamp_tags_and_fields_and_a_diverged_loss_or_a_log_line_does_not_stop_the_rest()
    {
        var logs = new CapturingLoggerDouble();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var export = new EventLogExport(factory);

        export.Write(
        [
            Samples.Event(1, new TrainingFinished("forward_backward", double.NaN, TimeSpan.FromMilliseconds(5), null)),
            Samples.Event(2, new LogRecorded(LogSeverity.Warning, "Some.Category", "already a log line", null)),
            Samples.Event(3, new CheckpointWritten("demo.state", 4500, 2, TimeSpan.FromMilliseconds(40))),
        ]);

        var records = logs.Records.Where(r => r.Category == EventLogExport.Category).ToList();
        Assert.Equal([1L, 3], records.Select(r => (long)r.Attributes["event.sequence"]!));
        var diverged = records[0].Attributes;
        Assert.Equal("training.finished", diverged["event.type"]);
        Assert.Equal("NaN", diverged["event.loss"]);
        Assert.Equal(("run-1", "node-1", "mdl-1"), (diverged["run.id"], diverged["node.id"], diverged["coordinator.model_id"]));
        Assert.Equal(Samples.Event(1).Stamp.Timestamp, diverged[CoordinatorTelemetry.RecordedAt]);
        Assert.Equal(Samples.Event(1).Stamp.TraceId, diverged[CoordinatorTelemetry.RecordedTraceId]);
        Assert.Equal(4500d, records[1].Attributes["event.bytes"]);
        Assert.Equal(0, export.Failed);
    }
}
