using System.Buffers;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Threading.Channels;
using Coordinator.Contracts.Telemetry;
using Coordinator.Grains.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordinator.Grains.Diagnostics.Latency;

/// <summary>
/// The node's slow-call file, <c>{directory}/{node}/slow-calls.jsonl</c> (<see cref="SlowCall"/> lines): every call
/// slower than the threshold, the slowest few of each minute, and thread-pool stalls. Bounded: past its size the file
/// becomes <c>slow-calls.1.jsonl</c> (replacing the older one). Callers only enqueue; a background loop writes, and
/// when it falls more than <see cref="Capacity"/> lines behind, new lines are dropped and counted.
/// </summary>
internal sealed partial class SlowCallLog : IHostedService
{
    /// <summary>The file's name in the node's directory.</summary>
    public const string FileName = "slow-calls.jsonl";

    /// <summary>The rotated file's name.</summary>
    public const string OlderFileName = "slow-calls.1.jsonl";

    private const int Capacity = 4096;
    private static readonly Meter Meter = new(CoordinatorTelemetry.MeterName);
    private static readonly Counter<long> Lines = Meter.CreateCounter<long>(
        InstrumentNames.SlowCalls, null, "Lines for the slow-call file, by kind (call, stall) and outcome (written, dropped).");

    private readonly Channel<SlowCall> _queue = Channel.CreateBounded<SlowCall>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    private readonly Lock _lock = new();
    private readonly List<SlowCall> _slowestOfMinute = [];
    private readonly TimeProvider _time;
    private readonly ILogger<SlowCallLog> _logger;
    private readonly long _maxBytes;
    private readonly int _slowestPerMinute;
    private long _minute;

    // The minute's slowest-kept total in ticks once the minute holds the most it keeps (else 0): a call not slower is
    // left out without taking the lock, which every call of the silo would otherwise contend for. Reset before the
    // minute moves on, and read after it, so a call of a new minute is never held to the last one's floor.
    private long _floor;
    private Task _writer = Task.CompletedTask;

    public SlowCallLog(string directory, string node, TimeSpan threshold, int slowestPerMinute, long maxBytes, TimeProvider time, ILogger<SlowCallLog> logger)
    {
        Directory = Path.Combine(directory, node);
        Node = node;
        Threshold = threshold;
        (_slowestPerMinute, _maxBytes, _time, _logger) = (slowestPerMinute, maxBytes, time, logger);
        _minute = Minute(time.GetUtcNow());
    }

    /// <summary>This node's directory of slow-call files.</summary>
    public string Directory { get; }

    /// <summary>The node named in each line.</summary>
    public string Node { get; }

    /// <summary>Calls at least this slow are written.</summary>
    public TimeSpan Threshold { get; }

    /// <summary>Writes a call over the threshold; keeps it among the minute's slowest otherwise.</summary>
    public void Call(string grain, string method, string? traceId, string? error, TimeSpan? transit, TimeSpan? queue, HandlerTime time)
    {
        var total = (transit ?? TimeSpan.Zero) + (queue ?? TimeSpan.Zero) + time.Duration;
        var now = _time.GetUtcNow();
        if (total >= Threshold)
        {
            Enqueue(SlowCall.Of(Node, now, grain, method, traceId, error, "threshold", transit, queue, time));
            return;
        }

        if (_slowestPerMinute == 0 || (Minute(now) == Volatile.Read(ref _minute) && total.Ticks <= Volatile.Read(ref _floor)))
        {
            return;
        }

        lock (_lock)
        {
            RollMinute(now);
            if (_slowestOfMinute.Count == _slowestPerMinute && _slowestOfMinute[^1].Total >= total.TotalMilliseconds)
            {
                return;
            }

            var line = SlowCall.Of(Node, now, grain, method, traceId, error, "slowest_of_minute", transit, queue, time);
            var at = _slowestOfMinute.FindIndex(c => c.Total < line.Total);
            _slowestOfMinute.Insert(at < 0 ? _slowestOfMinute.Count : at, line);
            if (_slowestOfMinute.Count > _slowestPerMinute)
            {
                _slowestOfMinute.RemoveAt(_slowestOfMinute.Count - 1);
            }

            if (_slowestOfMinute.Count == _slowestPerMinute)
            {
                // Totals are rounded to the microsecond: the floor rounds down, so no call slower than the kept ones is left out.
                Volatile.Write(ref _floor, (long)(_slowestOfMinute[^1].Total * TimeSpan.TicksPerMillisecond) - TimeSpan.TicksPerMicrosecond);
            }
        }
    }

    /// <summary>Writes a thread-pool stall: the canary's work item waited <paramref name="delay"/> for a thread.</summary>
    public void Stall(TimeSpan delay) => Enqueue(SlowCall.OfStall(Node, _time.GetUtcNow(), delay));

    /// <summary>Writes out the slowest calls of a minute that has ended.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            RollMinute(_time.GetUtcNow());
        }
    }

    /// <summary>Starts the writer; it runs until <see cref="StopAsync"/>, whatever token this is given.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _writer = Task.Run(WriteAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Writes out the minute's slowest calls and everything queued, then stops the writer.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            EnqueueSlowest();
        }

        _queue.Writer.TryComplete();
        await _writer.WaitAsync(cancellationToken);
    }

    private async Task WriteAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, FileName);
        var stream = Open(path);
        var buffer = new ArrayBufferWriter<byte>(1024);
        using var json = new Utf8JsonWriter(buffer);
        using var minute = new PeriodicTimer(TimeSpan.FromMinutes(1), _time);
        var tick = minute.WaitForNextTickAsync(CancellationToken.None).AsTask();
        try
        {
            // Lines already queued are written even while stopping; the loop ends when StopAsync completes the queue.
            while (true)
            {
                var ready = _queue.Reader.WaitToReadAsync(CancellationToken.None).AsTask();
                if (await Task.WhenAny(ready, tick) == tick)
                {
                    Flush();
                    tick = minute.WaitForNextTickAsync(CancellationToken.None).AsTask();
                    continue;
                }

                if (!await ready)
                {
                    break;
                }

                while (_queue.Reader.TryRead(out var line))
                {
                    buffer.ResetWrittenCount();
                    json.Reset(buffer);
                    line.Write(json);
                    json.Flush();
                    if (stream.Length > 0 && stream.Length + buffer.WrittenCount + 1 > _maxBytes)
                    {
                        await stream.DisposeAsync();
                        File.Move(path, Path.Combine(Directory, OlderFileName), overwrite: true);
                        stream = Open(path);
                    }

                    stream.Write(buffer.WrittenSpan);
                    stream.WriteByte((byte)'\n');
                    Lines.Add(1, new KeyValuePair<string, object?>("kind", line.Kind), new KeyValuePair<string, object?>("outcome", "written"));
                }

                await stream.FlushAsync(CancellationToken.None);
            }
        }
        catch (IOException ex)
        {
            LogWriteFailed(_logger, ex, path);
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    private static FileStream Open(string path) => new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private static long Minute(DateTimeOffset at) => at.ToUnixTimeSeconds() / 60;

    private void Enqueue(SlowCall line)
    {
        if (!_queue.Writer.TryWrite(line))
        {
            Lines.Add(1, new KeyValuePair<string, object?>("kind", line.Kind), new KeyValuePair<string, object?>("outcome", "dropped"));
        }
    }

    private void RollMinute(DateTimeOffset now)
    {
        var minute = Minute(now);
        if (minute != _minute)
        {
            EnqueueSlowest();
            Volatile.Write(ref _floor, 0);
            Volatile.Write(ref _minute, minute);
        }
    }

    private void EnqueueSlowest()
    {
        foreach (var line in _slowestOfMinute)
        {
            Enqueue(line);
        }

        _slowestOfMinute.Clear();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot write the slow-call file {Path}; no more slow calls are written by this process.")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, string path);
}
