using Coordinator.Contracts.Events;
using Coordinator.Events.Hosting;
using Coordinator.Events.Spool;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.Events.Shipping;

/// <summary>
/// Sends this node's spooled events to their recorders (<see cref="IEventRecorderGrain"/>, one per run and node) every
/// <c>Events:ShipPeriod</c>, in batches of up to <c>Events:ShipBatch</c>, and trims the spool through what the recorder
/// answers it holds. A batch that fails (no coordinator silo, storage down) is sent again next period: at least once
/// on the wire, once in the store (and, with <see cref="EventLogExport"/>, once as an exported log record, also when
/// the answer to a stored batch was lost). When the host stops, what is left is sent once more; what still cannot be sent
/// stays in the spool for the next start.
/// </summary>
internal sealed partial class EventShipper(
    EventSpool spool, IGrainFactory grains, EventsOptions options, TimeProvider time, ILogger<EventShipper> logger, EventLogExport? export = null)
    : BackgroundService
{
    private readonly Dictionary<string, long> _highWater = new(StringComparer.Ordinal);

    // Per recorder: the last sequence exported as a log record. Events a recorder already held when this process first
    // asked are not exported (a process that died between storing and exporting leaves those out of the export).
    private readonly Dictionary<string, long> _exported = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _shipping = new(1, 1);
    private long _shipped;
    private bool _failing;

    /// <summary>The highest sequence the recorders hold of this node's spool.</summary>
    public long Shipped => Volatile.Read(ref _shipped);

    /// <summary>Sends everything spooled now; answers whether the spool's last event is held by its recorder.</summary>
    public async Task<bool> ShipAsync(CancellationToken cancellationToken = default)
    {
        await _shipping.WaitAsync(cancellationToken);
        try
        {
            while (true)
            {
                var batch = spool.ReadAfter(_shipped, options.ShipBatch);
                if (batch.Count == 0)
                {
                    return true;
                }

                // A batch goes to one recorder: it ends where the run changes (a spool outlives a run).
                var run = batch[0].Stamp.RunId;
                var node = batch[0].Stamp.NodeId;
                var sent = batch.TakeWhile(e => e.Stamp.RunId == run && e.Stamp.NodeId == node).ToList();
                var key = RecorderKeys.Of(run, node);
                var recorder = grains.GetGrain<IEventRecorderGrain>(key);
                if (!_highWater.TryGetValue(key, out var held))
                {
                    held = await recorder.GetHighWaterAsync();
                    _exported.TryAdd(key, held);
                }

                var fresh = sent.Where(e => e.Stamp.Sequence > held).ToList();
                if (fresh.Count > 0)
                {
                    held = await recorder.AppendAsync(fresh);
                }

                // What the recorder holds and was not exported yet: this batch, or one whose answer was lost last time.
                if (export is not null)
                {
                    var exported = _exported[key];
                    export.Write(sent.Where(e => e.Stamp.Sequence > exported && e.Stamp.Sequence <= held));
                    _exported[key] = Math.Max(exported, held);
                }

                _highWater[key] = held;
                Volatile.Write(ref _shipped, sent[^1].Stamp.Sequence);
                spool.TrimThrough(_shipped);
                if (_failing)
                {
                    _failing = false;
                    LogResumed(node, _shipped);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whether the failed batch reached the store is unknown: ask the recorders again rather than send it blind.
            _highWater.Clear();
            if (!_failing)
            {
                _failing = true;
                LogFailed(ex, _shipped);
            }

            return false;
        }
        finally
        {
            _shipping.Release();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // The emitter has written out its queue by now (it stops first): send the node's last events.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(options.ShipPeriod * 5);
        try
        {
            if (!await ShipAsync(limit.Token))
            {
                LogLeftInSpool(spool.LastSequence - _shipped);
            }
        }
        catch (OperationCanceledException)
        {
            LogLeftInSpool(spool.LastSequence - _shipped);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.ShipPeriod, time);
        try
        {
            do
            {
                await ShipAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override void Dispose()
    {
        _shipping.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run events could not be shipped after sequence {Shipped}; they stay in the spool and are sent again each period")]
    private partial void LogFailed(Exception exception, long shipped);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run events of {NodeId} are shipped again, through sequence {Shipped}")]
    private partial void LogResumed(string nodeId, long shipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} run event(s) could not be shipped before stopping; they stay in the spool for the next start")]
    private partial void LogLeftInSpool(long count);
}
