using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordinator.TestSupport;

/// <summary>
/// An OTLP/HTTP endpoint on loopback that keeps the log records and spans posted to it, decoded from their protobuf
/// (opentelemetry-proto's logs and trace messages, the fields the tests read), and the names of the metrics exported. No OTLP
/// collector is packaged for the registries this project installs from, so the tests receive the real exporters'
/// requests themselves.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<OtlpLog> _logs = new();
    private readonly ConcurrentQueue<OtlpSpan> _spans = new();
    private readonly ConcurrentDictionary<string, bool> _metricNames = new(StringComparer.Ordinal);
    private int _metricExports;

    private OtlpReceiver(WebApplication app) => _app = app;

    /// <summary>The endpoint to give <c>Telemetry:OtlpEndpoint</c> (with <c>Telemetry:OtlpProtocol=HttpProtobuf</c>).</summary>
    public string Endpoint { get; private set; } = "";

    /// <summary>Every log record received.</summary>
    public IReadOnlyList<OtlpLog> Logs => [.. _logs];

    /// <summary>Every span received.</summary>
    public IReadOnlyList<OtlpSpan> Spans => [.. _spans];

    /// <summary>How many metric export requests arrived.</summary>
    public int MetricExports => Volatile.Read(ref _metricExports);

    /// <summary>The name of every metric exported.</summary>
    public IReadOnlyCollection<string> MetricNames => [.. _metricNames.Keys];

    /// <summary>Starts listening on a free loopback port.</summary>
    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/logs", context => ReceiveAsync(context, receiver.DecodeLogs));
        app.MapPost("/v1/traces", context => ReceiveAsync(context, receiver.DecodeSpans));
        app.MapPost("/v1/metrics", context => ReceiveAsync(context, receiver.DecodeMetrics));
        await app.StartAsync();
        receiver.Endpoint = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static async Task ReceiveAsync(HttpContext context, Action<byte[]> decode)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        decode(body.ToArray());
        context.Response.ContentType = "application/x-protobuf";
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    // ExportLogsServiceRequest: 1 resource_logs { 1 resource { 1 attributes }, 2 scope_logs { 2 log_records } }.
    private void DecodeLogs(byte[] request)
    {
        foreach (var resourceLogs in Protobuf.Messages(request, 1))
        {
            var resource = Resource(resourceLogs);
            foreach (var scopeLogs in Protobuf.Messages(resourceLogs, 2))
            {
                foreach (var record in Protobuf.Messages(scopeLogs, 2))
                {
                    _logs.Enqueue(Log(resource, record));
                }
            }
        }
    }

    // ExportMetricsServiceRequest: 1 resource_metrics { 2 scope_metrics { 2 metrics { 1 name } } }.
    private void DecodeMetrics(byte[] request)
    {
        foreach (var resourceMetrics in Protobuf.Messages(request, 1))
        {
            foreach (var scopeMetrics in Protobuf.Messages(resourceMetrics, 2))
            {
                foreach (var metric in Protobuf.Messages(scopeMetrics, 2))
                {
                    foreach (var name in Protobuf.Messages(metric, 1))
                    {
                        _metricNames[Encoding.UTF8.GetString(name.Span)] = true;
                    }
                }
            }
        }

        Interlocked.Increment(ref _metricExports);
    }

    // ExportTraceServiceRequest: 1 resource_spans { 1 resource, 2 scope_spans { 2 spans { 1 trace_id, 2 span_id, 5 name } } }.
    private void DecodeSpans(byte[] request)
    {
        foreach (var resourceSpans in Protobuf.Messages(request, 1))
        {
            var resource = Resource(resourceSpans);
            foreach (var scopeSpans in Protobuf.Messages(resourceSpans, 2))
            {
                foreach (var span in Protobuf.Messages(scopeSpans, 2))
                {
                    string traceId = "", spanId = "", name = "";
                    foreach (var field in Protobuf.Fields(span))
                    {
                        switch (field.Number)
                        {
                            case 1: traceId = Convert.ToHexStringLower(field.Bytes.Span); break;
                            case 2: spanId = Convert.ToHexStringLower(field.Bytes.Span); break;
                            case 5: name = Encoding.UTF8.GetString(field.Bytes.Span); break;
                        }
                    }

                    _spans.Enqueue(new OtlpSpan(resource, traceId, spanId, name));
                }
            }
        }
    }

    private static Dictionary<string, string> Resource(ReadOnlyMemory<byte> owner)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var resource in Protobuf.Messages(owner, 1))
        {
            foreach (var (key, value) in Attributes(resource, 1))
            {
                attributes[key] = value?.ToString() ?? "";
            }
        }

        return attributes;
    }

    // LogRecord: 1 time_unix_nano (fixed64), 2 severity_number, 5 body (AnyValue), 6 attributes, 9 trace_id, 10 span_id.
    private static OtlpLog Log(IReadOnlyDictionary<string, string> resource, ReadOnlyMemory<byte> record)
    {
        ulong time = 0;
        var severity = 0;
        object? body = null;
        string traceId = "", spanId = "";
        foreach (var field in Protobuf.Fields(record))
        {
            switch (field.Number)
            {
                case 1: time = field.Value; break;
                case 2: severity = (int)field.Value; break;
                case 5: body = Value(field.Bytes); break;
                case 9: traceId = Convert.ToHexStringLower(field.Bytes.Span); break;
                case 10: spanId = Convert.ToHexStringLower(field.Bytes.Span); break;
            }
        }

        var at = DateTimeOffset.UnixEpoch.AddTicks((long)(time / 100));
        return new OtlpLog(resource, at, severity, body?.ToString(), Attributes(record, 6), traceId, spanId);
    }

    // KeyValue: 1 key, 2 value (AnyValue).
    private static Dictionary<string, object?> Attributes(ReadOnlyMemory<byte> owner, int field)
    {
        var attributes = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var pair in Protobuf.Messages(owner, field))
        {
            string key = "";
            object? value = null;
            foreach (var part in Protobuf.Fields(pair))
            {
                if (part.Number == 1)
                {
                    key = Encoding.UTF8.GetString(part.Bytes.Span);
                }
                else if (part.Number == 2)
                {
                    value = Value(part.Bytes);
                }
            }

            attributes[key] = value;
        }

        return attributes;
    }

    // AnyValue: 1 string, 2 bool, 3 int64, 4 double; arrays, maps and bytes as their field count (the tests read none).
    private static object? Value(ReadOnlyMemory<byte> any)
    {
        foreach (var field in Protobuf.Fields(any))
        {
            return field.Number switch
            {
                1 => Encoding.UTF8.GetString(field.Bytes.Span),
                2 => field.Value != 0,
                3 => (long)field.Value,
                4 => BitConverter.UInt64BitsToDouble(field.Value),
                _ => $"<field {field.Number}>",
            };
        }

        return null;
    }

    /// <summary>Just enough of the protobuf wire format to walk a message's fields.</summary>
    private static class Protobuf
    {
        public readonly record struct Field(int Number, ulong Value, ReadOnlyMemory<byte> Bytes);

        public static IEnumerable<ReadOnlyMemory<byte>> Messages(ReadOnlyMemory<byte> message, int number) =>
            Fields(message).Where(f => f.Number == number).Select(f => f.Bytes);

        public static List<Field> Fields(ReadOnlyMemory<byte> message)
        {
            var fields = new List<Field>();
            var span = message.Span;
            var at = 0;
            while (at < span.Length)
            {
                var key = Varint(span, ref at);
                var number = (int)(key >> 3);
                switch (key & 7)
                {
                    case 0:
                        fields.Add(new Field(number, Varint(span, ref at), default));
                        break;
                    case 1:
                        fields.Add(new Field(number, BitConverter.ToUInt64(span.Slice(at, 8)), default));
                        at += 8;
                        break;
                    case 2:
                        var length = (int)Varint(span, ref at);
                        fields.Add(new Field(number, 0, message.Slice(at, length)));
                        at += length;
                        break;
                    case 5:
                        fields.Add(new Field(number, BitConverter.ToUInt32(span.Slice(at, 4)), default));
                        at += 4;
                        break;
                    default:
                        throw new InvalidDataException($"Protobuf wire type {key & 7} at byte {at} is not one OTLP uses.");
                }
            }

            return fields;
        }

        private static ulong Varint(ReadOnlySpan<byte> span, ref int at)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = span[at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
        }
    }
}

/// <summary>A log record as an OTLP endpoint received it: its resource's attributes, time, severity, body, attributes, trace and span (hex, empty when none).</summary>
public sealed record OtlpLog(
    IReadOnlyDictionary<string, string> Resource, DateTimeOffset At, int Severity, string? Body, IReadOnlyDictionary<string, object?> Attributes, string TraceId, string SpanId);

/// <summary>A span as an OTLP endpoint received it.</summary>
public sealed record OtlpSpan(IReadOnlyDictionary<string, string> Resource, string TraceId, string SpanId, string Name);
