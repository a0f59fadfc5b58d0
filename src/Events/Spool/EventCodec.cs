using System.Buffers;
using System.Text;
using Coordinator.Contracts.Events;
using Orleans.Serialization;

namespace Coordinator.Events.Spool;

/// <summary>
/// The compact form an event is kept in (spool and store records): the stamp and tags written field by field, with
/// numbers as varints, the hybrid clock and the time as one value and a small difference, trace and span as their 24
/// raw bytes instead of 48 hex characters, and only the tags that are set; then the body in Orleans' binary format
/// (its type named by a well-known id). About 60% of the whole event in Orleans' format, which frames every field and
/// holds the ids as text.
/// </summary>
/// <remarks>
/// Layout: varint flags (bit 0: trace and span as bytes; bit 1: as text, when they are not W3C ids; bits 2 to 8: which
/// of the seven tags follow); varint sequence; varint clock wall milliseconds; varint clock counter; zigzag varint of
/// the time's ticks less the clock's wall time in ticks; run and node (varint length, UTF-8); trace and span; the set
/// tags, each as a string; the body to the end.
/// </remarks>
internal static class EventCodec
{
    private const int TracedBytes = 1;
    private const int TracedText = 2;
    private const int FirstTag = 4;

    /// <summary>The event's compact bytes.</summary>
    public static byte[] Encode(RunEvent runEvent, Serializer serializer)
    {
        var stamp = runEvent.Stamp;
        string?[] tags = [runEvent.Tags.SessionId, runEvent.Tags.ModelId, runEvent.Tags.OperationId, runEvent.Tags.ReplicaId,
            runEvent.Tags.BatchId, runEvent.Tags.BlobHash, runEvent.Tags.TransferId];
        var binaryTrace = W3C(stamp.TraceId, 32) && W3C(stamp.SpanId, 16);
        var flags = binaryTrace ? TracedBytes : stamp.TraceId is not null || stamp.SpanId is not null ? TracedText : 0;
        for (var i = 0; i < tags.Length; i++)
        {
            flags |= tags[i] is null ? 0 : FirstTag << i;
        }

        var body = serializer.SerializeToArray<RunEventBody>(runEvent.Body);
        var writer = new ArrayBufferWriter<byte>(96 + body.Length);
        Varint(writer, (ulong)flags);
        Varint(writer, (ulong)stamp.Sequence);
        Varint(writer, (ulong)stamp.Clock.WallMilliseconds);
        Varint(writer, (ulong)stamp.Clock.Counter);
        var skew = stamp.Timestamp.UtcTicks - (stamp.Clock.WallMilliseconds * TimeSpan.TicksPerMillisecond);
        Varint(writer, (ulong)((skew << 1) ^ (skew >> 63)));
        Text(writer, stamp.RunId);
        Text(writer, stamp.NodeId);
        if (binaryTrace)
        {
            Convert.FromHexString(stamp.TraceId!, writer.GetSpan(16), out _, out var written);
            writer.Advance(written);
            Convert.FromHexString(stamp.SpanId!, writer.GetSpan(8), out _, out written);
            writer.Advance(written);
        }
        else if ((flags & TracedText) != 0)
        {
            Text(writer, stamp.TraceId ?? "");
            Text(writer, stamp.SpanId ?? "");
        }

        foreach (var tag in tags)
        {
            if (tag is not null)
            {
                Text(writer, tag);
            }
        }

        writer.Write(body);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The event in <paramref name="bytes"/>; <see cref="InvalidDataException"/> when they are not one. Ids that repeat
    /// from event to event come from <paramref name="pool"/> when one is given.
    /// </summary>
    public static RunEvent Decode(ReadOnlySpan<byte> bytes, Serializer serializer, TextPool? pool = null)
    {
        var at = 0;
        var flags = (int)Varint(bytes, ref at);
        var sequence = (long)Varint(bytes, ref at);
        var wall = (long)Varint(bytes, ref at);
        var counter = (int)Varint(bytes, ref at);
        var zigzag = Varint(bytes, ref at);
        var skew = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
        var run = Text(bytes, ref at, pool);
        var node = Text(bytes, ref at, pool);
        string? trace = null, span = null;
        if ((flags & TracedBytes) != 0)
        {
            trace = Convert.ToHexStringLower(Take(bytes, ref at, 16));
            span = Convert.ToHexStringLower(Take(bytes, ref at, 8));
        }
        else if ((flags & TracedText) != 0)
        {
            trace = Text(bytes, ref at) is { Length: > 0 } t ? t : null;
            span = Text(bytes, ref at) is { Length: > 0 } s ? s : null;
        }

        var tags = new string?[7];
        for (var i = 0; i < tags.Length; i++)
        {
            // Session, model and replica ids repeat; operation, batch, blob and transfer ids name one thing each.
            tags[i] = (flags & (FirstTag << i)) != 0 ? Text(bytes, ref at, i is 0 or 1 or 3 ? pool : null) : null;
        }

        var body = serializer.Deserialize<RunEventBody>(bytes[at..]) ?? throw new InvalidDataException("The event has no body.");
        var clock = new HybridTime(wall, counter);
        var time = new DateTimeOffset((wall * TimeSpan.TicksPerMillisecond) + skew, TimeSpan.Zero);
        return new RunEvent(
            new EventStamp(run, node, sequence, time, clock, trace, span),
            new EventTags(tags[0], tags[1], tags[2], tags[3], tags[4], tags[5], tags[6]),
            body);
    }

    private static bool W3C(string? id, int length) => id is not null && id.Length == length && id.All(char.IsAsciiHexDigitLower);

    /// <summary>Writes <paramref name="value"/> as a varint (seven bits a byte, low bits first).</summary>
    internal static void Varint(ArrayBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        writer.Advance(n);
    }

    private static void Text(ArrayBufferWriter<byte> writer, string text)
    {
        Varint(writer, (ulong)Encoding.UTF8.GetByteCount(text));
        writer.Advance(Encoding.UTF8.GetBytes(text, writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length))));
    }

    /// <summary>Reads a varint at <paramref name="at"/> and moves past it; <see cref="InvalidDataException"/> when there is none.</summary>
    internal static ulong Varint(ReadOnlySpan<byte> bytes, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= bytes.Length)
            {
                throw new InvalidDataException("The event ends inside a number.");
            }

            var b = bytes[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("The event holds a number longer than 64 bits.");
    }

    private static string Text(ReadOnlySpan<byte> bytes, ref int at, TextPool? pool = null)
    {
        var length = Varint(bytes, ref at);
        var utf8 = Take(bytes, ref at, length > int.MaxValue ? int.MaxValue : (int)length);
        return pool is null ? Encoding.UTF8.GetString(utf8) : pool.Get(utf8);
    }

    private static ReadOnlySpan<byte> Take(ReadOnlySpan<byte> bytes, ref int at, int count)
    {
        if (count > bytes.Length - at)
        {
            throw new InvalidDataException("The event ends inside a field.");
        }

        var taken = bytes.Slice(at, count);
        at += count;
        return taken;
    }
}
