using System.Buffers;
using System.IO.Compression;
using Coordinator.Contracts.Events;
using Orleans.Serialization;

namespace Coordinator.Events.Spool;

/// <summary>
/// Many events of one node in one record, the form the stores keep: each event's compact form (<see cref="EventCodec"/>)
/// with its length, all compressed together (Brotli). The events of a run repeat most of their bytes (run, node, tags,
/// the body's type and names, a trace shared by an operation's events), which one event alone cannot leave out.
/// </summary>
/// <remarks>
/// Layout: varint count; varint first and last sequence (so a reader passes over a block it has read without
/// decompressing it); varint length of the uncompressed events; the compressed events.
/// </remarks>
internal static class EventBlock
{
    /// <summary>
    /// The most bytes of events a block holds uncompressed, unless it holds one event only (up to
    /// <see cref="EventSpool.MaxEventBytes"/>); so a block stays under the most a record holds
    /// (<see cref="EventSpool.MaxRecordBytes"/>) whatever its events compress to.
    /// </summary>
    public const int MaxRawBytes = 256 * 1024;

    // Brotli's quality 5 and a 4 MiB window: most of the size of the best qualities at a small part of their time.
    private const int Quality = 5;
    private const int Window = 22;

    /// <summary>
    /// The events (in sequence order) as blocks, each with the first and last sequence it holds, a new block begun where
    /// one would pass <see cref="MaxRawBytes"/>. An event too large for a record throws before any block of it is made.
    /// </summary>
    public static List<(long First, long Last, byte[] Bytes)> Encode(IReadOnlyList<RunEvent> events, Serializer serializer)
    {
        var blocks = new List<(long, long, byte[])>();
        var raw = new ArrayBufferWriter<byte>(64 * 1024);
        var (count, first, last) = (0, 0L, 0L);
        foreach (var runEvent in events)
        {
            var payload = EventSpool.Encoded(runEvent, serializer);

            if (count > 0 && raw.WrittenCount + payload.Length > MaxRawBytes)
            {
                blocks.Add((first, last, Compress(count, first, last, raw.WrittenSpan)));
                raw.ResetWrittenCount();
                count = 0;
            }

            first = count == 0 ? runEvent.Stamp.Sequence : first;
            last = runEvent.Stamp.Sequence;
            EventCodec.Varint(raw, (ulong)payload.Length);
            raw.Write(payload);
            count++;
        }

        if (count > 0)
        {
            blocks.Add((first, last, Compress(count, first, last, raw.WrittenSpan)));
        }

        return blocks;
    }

    /// <summary>The last sequence a block holds, read from its head; <see cref="InvalidDataException"/> when the bytes are not one.</summary>
    public static long LastSequence(ReadOnlySpan<byte> bytes)
    {
        var at = 0;
        _ = EventCodec.Varint(bytes, ref at);
        _ = EventCodec.Varint(bytes, ref at);
        return (long)EventCodec.Varint(bytes, ref at);
    }

    /// <summary>The events of a block (repeated ids from <paramref name="pool"/>); <see cref="InvalidDataException"/> when the bytes are not one.</summary>
    public static List<RunEvent> Decode(ReadOnlySpan<byte> bytes, Serializer serializer, TextPool? pool = null)
    {
        var at = 0;
        var count = EventCodec.Varint(bytes, ref at);
        var (first, last) = ((long)EventCodec.Varint(bytes, ref at), (long)EventCodec.Varint(bytes, ref at));
        var length = EventCodec.Varint(bytes, ref at);
        if (count > int.MaxValue || length > EventSpool.MaxRecordBytes)
        {
            throw new InvalidDataException($"The block claims {count} events in {length} bytes; a block holds at most {EventSpool.MaxRecordBytes} bytes of events.");
        }

        var raw = new byte[(int)length];
        if (!BrotliDecoder.TryDecompress(bytes[at..], raw, out var written) || written != raw.Length)
        {
            throw new InvalidDataException("The block's events do not decompress to the length it claims.");
        }

        var events = new List<RunEvent>((int)count);
        var position = 0;
        for (var i = 0; i < (int)count; i++)
        {
            var size = EventCodec.Varint(raw, ref position);
            if (size > (ulong)(raw.Length - position))
            {
                throw new InvalidDataException($"Event {i + 1} of the block ends past the block.");
            }

            events.Add(EventCodec.Decode(raw.AsSpan(position, (int)size), serializer, pool));
            position += (int)size;
        }

        if (position != raw.Length)
        {
            throw new InvalidDataException("The block holds bytes after its last event.");
        }

        return events.Count > 0 && events[0].Stamp.Sequence == first && events[^1].Stamp.Sequence == last
            ? events
            : throw new InvalidDataException($"The block's events are not the sequences {first} to {last} its head names.");
    }

    private static byte[] Compress(int count, long first, long last, ReadOnlySpan<byte> raw)
    {
        var block = new ArrayBufferWriter<byte>(40 + BrotliEncoder.GetMaxCompressedLength(raw.Length));
        EventCodec.Varint(block, (ulong)count);
        EventCodec.Varint(block, (ulong)first);
        EventCodec.Varint(block, (ulong)last);
        EventCodec.Varint(block, (ulong)raw.Length);
        using var encoder = new BrotliEncoder(Quality, Window);
        var destination = block.GetSpan(BrotliEncoder.GetMaxCompressedLength(raw.Length));
        var status = encoder.Compress(raw, destination, out _, out var written, isFinalBlock: true);
        if (status != OperationStatus.Done)
        {
            throw new InvalidOperationException($"Brotli could not compress a block of {count} events ({status}).");
        }

        block.Advance(written);
        return block.WrittenSpan.ToArray();
    }
}
