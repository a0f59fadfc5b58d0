using System.Buffers.Binary;
using System.IO.Hashing;
using Coordinator.Contracts.Events;
using Orleans.Serialization;

namespace Coordinator.Events.Spool;

/// <summary>
/// A node's crash-safe local spool of run events: append-only segment files in one directory. Each record is framed as
/// magic, payload length, CRC-32 of the payload, then the payload: the event in its compact form (<see cref="EventCodec"/>,
/// magic <c>EVT2</c>), many events compressed together (<see cref="EventBlock"/>, <c>EVTB</c>: the stores' form), or, in
/// records written before them, one event in Orleans' binary format (<c>EVT1</c>), which is still read. A record cut short by a crash (a torn tail) or damaged on disk is skipped and counted
/// when the spool is read; the next record is found again by its magic. Appends are buffered until <see cref="Flush"/>
/// (the emitter flushes whenever its queue runs empty); what was flushed has reached the operating system, so a killed
/// process loses nothing flushed. Segments roll at a size; whole segments are
/// deleted once the recorder holds their events (<see cref="TrimThrough"/>). Thread-safe: the emitter's writer appends
/// while the shipper reads and trims. The same format holds a node's events in the file store.
/// </summary>
public sealed class EventSpool : IDisposable
{
    internal const uint Magic = 0x32545645; // "EVT2" little-endian: the compact form
    internal const uint OrleansMagic = 0x31545645; // "EVT1": Orleans' binary format, written by earlier versions
    internal const uint BlockMagic = 0x42545645; // "EVTB": many events, compressed together (the stores' form)
    internal const int HeaderBytes = 12;
    /// <summary>The most one event takes in its compact form: what a spool accepts, and so what a store must.</summary>
    internal const int MaxEventBytes = 1 << 20;

    /// <summary>The most a record's payload holds: one event, or a block (whose largest is one event compressed, a little more).</summary>
    internal const int MaxRecordBytes = 2 * MaxEventBytes;
    private const string Extension = ".seg";

    private readonly Lock _lock = new();
    private readonly string _directory;
    private readonly Serializer _serializer;
    private readonly long _segmentBytes;
    private readonly bool _readOnly;
    private readonly bool _gapless;
    private (string Segment, long Offset, long Sequence)? _cursor;
    private FileStream? _current;

    private EventSpool(string directory, Serializer serializer, long segmentBytes, bool gapless = true, bool readOnly = false)
    {
        _gapless = gapless;
        _readOnly = readOnly;
        _directory = directory;
        _serializer = serializer;
        _segmentBytes = segmentBytes;
    }

    /// <summary>The sequence of the last event in the spool (appended now or found on opening); 0 when empty.</summary>
    public long LastSequence { get; private set; }

    /// <summary>Damaged or torn records skipped while reading, since the spool was opened.</summary>
    public int Skipped { get; private set; }

    /// <summary>
    /// Opens (creating) the spool in <paramref name="directory"/>: reads what is there to find the last sequence, and cuts
    /// a torn tail off the last segment so new records follow the last whole one. A node's spool is
    /// <paramref name="gapless"/>: each sequence follows the last, from 1. A store's is not: it starts where the node's run
    /// began and skips what the node's spool lost.
    /// </summary>
    public static EventSpool Open(string directory, Serializer serializer, long segmentBytes = 4 << 20, bool gapless = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(serializer);
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentBytes, HeaderBytes);
        Directory.CreateDirectory(directory);
        var spool = new EventSpool(directory, serializer, segmentBytes, gapless);
        var segments = spool.Segments();
        foreach (var segment in segments)
        {
            // Blocks are passed over by their heads: opening a large store decompresses nothing.
            var (_, validEnd, last) = spool.ReadSegment(segment, after: long.MaxValue);
            spool.LastSequence = Math.Max(spool.LastSequence, last);

            if (segment == segments[^1] && validEnd < new FileInfo(segment).Length)
            {
                using var file = new FileStream(segment, FileMode.Open, FileAccess.Write);
                file.SetLength(validEnd);
            }
        }

        return spool;
    }

    /// <summary>
    /// Opens the spool in <paramref name="directory"/> for reading only, changing nothing on disk: another process may be
    /// writing it, so a torn tail is skipped, not cut. Appending throws.
    /// </summary>
    public static EventSpool OpenReadOnly(string directory, Serializer serializer)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(serializer);
        return new EventSpool(directory, serializer, long.MaxValue, gapless: false, readOnly: true);
    }

    /// <summary>
    /// Appends an event (buffered: see <see cref="Flush"/>); its sequence must follow <see cref="LastSequence"/> in a
    /// gapless spool, and be above it in a store's.
    /// </summary>
    public void Append(RunEvent runEvent)
    {
        ArgumentNullException.ThrowIfNull(runEvent);
        lock (_lock)
        {
            AppendLocked(runEvent);
        }
    }

    private void AppendLocked(RunEvent runEvent)
    {
        Follows(runEvent, LastSequence, nameof(runEvent));
        Current(runEvent.Stamp.Sequence).Write(Record(Magic, Encoded(runEvent, _serializer)));
        LastSequence = runEvent.Stamp.Sequence;
    }

    /// <summary>An event's compact form; <see cref="ArgumentException"/> past <see cref="MaxEventBytes"/>.</summary>
    internal static byte[] Encoded(RunEvent runEvent, Serializer serializer)
    {
        var payload = EventCodec.Encode(runEvent, serializer);
        return payload.Length <= MaxEventBytes
            ? payload
            : throw new ArgumentException($"Event {runEvent.Body.Type} is {payload.Length} bytes; the most an event takes is {MaxEventBytes}.", nameof(runEvent));
    }

    /// <summary>Refuses a spool opened read-only, and an event whose sequence does not follow <paramref name="last"/>.</summary>
    private void Follows(RunEvent runEvent, long last, string argument)
    {
        if (_readOnly)
        {
            throw new InvalidOperationException($"The spool in '{_directory}' was opened for reading only.");
        }

        if (_gapless ? runEvent.Stamp.Sequence != last + 1 : runEvent.Stamp.Sequence <= last)
        {
            throw new ArgumentException($"Event sequence {runEvent.Stamp.Sequence} does not follow the spool's last, {last}.", argument);
        }
    }

    /// <summary>
    /// Appends events (in sequence order, each above <see cref="LastSequence"/>; buffered, see <see cref="Flush"/>) as
    /// compressed blocks (<see cref="EventBlock"/>): the stores' form, a fraction of the size of one record per event. A
    /// damaged block loses all its events, where a damaged record loses one, so a node's own spool does not use it.
    /// </summary>
    public void AppendBlock(IReadOnlyList<RunEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        lock (_lock)
        {
            var last = LastSequence;
            foreach (var runEvent in events)
            {
                Follows(runEvent, last, nameof(events));
                last = runEvent.Stamp.Sequence;
            }

            var blocks = EventBlock.Encode(events, _serializer);
            if (blocks.Find(b => b.Bytes.Length > MaxRecordBytes) is { Bytes: not null } large)
            {
                // Cannot be, by the sizes of events and blocks; written, it would be read as damaged and its events lost.
                throw new InvalidOperationException($"The block of events {large.First} to {large.Last} is {large.Bytes.Length} bytes; the most a record holds is {MaxRecordBytes}.");
            }

            foreach (var (first, through, payload) in blocks)
            {
                Current(first).Write(Record(BlockMagic, payload));
                LastSequence = through;
            }
        }
    }

    private static byte[] Record(uint magic, byte[] payload)
    {
        var record = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(record, magic);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), Crc32.HashToUInt32(payload));
        payload.CopyTo(record, HeaderBytes);
        return record;
    }

    /// <summary>Hands what was appended to the operating system.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            _current?.Flush();
        }
    }

    /// <summary>
    /// Up to <paramref name="max"/> events after <paramref name="sequence"/>, in order; damaged records are skipped and
    /// counted in <see cref="Skipped"/>. Segments wholly at or below <paramref name="sequence"/> are not read.
    /// </summary>
    public IReadOnlyList<RunEvent> ReadAfter(long sequence, int max = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        lock (_lock)
        {
            _current?.Flush();
            var segments = Segments();
            var read = new List<RunEvent>();
            for (var i = 0; i < segments.Count && read.Count < max; i++)
            {
                if (i + 1 < segments.Count && FirstSequence(segments[i + 1]) - 1 <= sequence)
                {
                    continue;
                }

                // The shipper reads on from where it stopped: start at the cursor's offset, not at the segment's start.
                var from = _cursor is { } cursor && cursor.Segment == segments[i] && cursor.Sequence <= sequence ? cursor.Offset : 0;
                foreach (var (runEvent, end) in ReadSegment(segments[i], from, sequence).Records)
                {
                    if (runEvent.Stamp.Sequence > sequence && read.Count < max)
                    {
                        read.Add(runEvent);
                        _cursor = (segments[i], end, runEvent.Stamp.Sequence);
                    }
                }
            }

            return read;
        }
    }

    /// <summary>Deletes the segments whose events all have sequences up to <paramref name="sequence"/> (the recorder holds them).</summary>
    public void TrimThrough(long sequence)
    {
        lock (_lock)
        {
            var segments = Segments();
            for (var i = 0; i < segments.Count - 1; i++)
            {
                // A segment ends where the next begins, so it is whole below the next one's first sequence.
                if (FirstSequence(segments[i + 1]) - 1 <= sequence)
                {
                    File.Delete(segments[i]);
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _current?.Dispose();
            _current = null;
        }
    }

    private FileStream Current(long sequence)
    {
        if (_current is not null && _current.Length >= _segmentBytes)
        {
            _current.Dispose();
            _current = null;
        }

        if (_current is null)
        {
            var segments = Segments();
            var path = segments.Count > 0 && new FileInfo(segments[^1]).Length < _segmentBytes
                ? segments[^1]
                : Path.Combine(_directory, $"{sequence:D19}{Extension}");
            _current = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        }

        return _current;
    }

    private List<string> Segments() => Directory.Exists(_directory)
        ? [.. Directory.EnumerateFiles(_directory, $"*{Extension}").Order(StringComparer.Ordinal)]
        : [];

    private static long FirstSequence(string segment) => long.Parse(Path.GetFileNameWithoutExtension(segment), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The whole records of a segment from byte <paramref name="from"/> on, each with where it ends; where the last of
    /// them ends; and the last sequence they hold. Blocks wholly at or below <paramref name="after"/> are passed over
    /// without decompressing.
    /// </summary>
    private (List<(RunEvent Event, long End)> Records, long ValidEnd, long Last) ReadSegment(string segment, long from = 0, long after = 0)
    {
        byte[] bytes;
        using (var file = new FileStream(segment, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            file.Seek(Math.Min(from, file.Length), SeekOrigin.Begin);
            bytes = new byte[file.Length - file.Position];
            file.ReadExactly(bytes);
        }

        var events = new List<(RunEvent Event, long End)>();
        var (position, validEnd, damaged, last) = (0, 0L, false, 0L);
        var pool = new TextPool();
        while (position + HeaderBytes <= bytes.Length)
        {
            var span = bytes.AsSpan(position);
            var length = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
            var magic = BinaryPrimitives.ReadUInt32LittleEndian(span);
            var whole = magic is Magic or OrleansMagic or BlockMagic
                && length is >= 0 and <= MaxRecordBytes
                && position + HeaderBytes + length <= bytes.Length
                && Crc32.HashToUInt32(span.Slice(HeaderBytes, length)) == BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
            List<RunEvent>? held = null;
            if (whole)
            {
                try
                {
                    var payload = bytes.AsSpan(position + HeaderBytes, length);
                    var through = magic == BlockMagic ? EventBlock.LastSequence(payload) : long.MaxValue;
                    held = magic switch
                    {
                        Magic => [EventCodec.Decode(payload, _serializer, pool)],
                        BlockMagic => through <= after ? [] : EventBlock.Decode(payload, _serializer, pool),
                        _ => [_serializer.Deserialize<RunEvent>(payload)!],
                    };
                    last = Math.Max(last, held.Count > 0 ? held[^1].Stamp.Sequence : through);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Whole but unreadable (written by a version that knows an event this one does not): skipped.
                }
            }

            if (held is null)
            {
                // Damaged, torn or unreadable: count the run of bad bytes once, and look for the next record's magic.
                if (!damaged)
                {
                    Skipped++;
                    damaged = true;
                }

                var next = NextMagic(bytes.AsSpan(position + 1));
                position = next < 0 ? bytes.Length : position + 1 + next;
                continue;
            }

            damaged = false;
            var start = position;
            position += HeaderBytes + length;
            validEnd = position;
            for (var i = 0; i < held.Count; i++)
            {
                // Reading on after an event inside a block starts again at the block (its earlier events are passed over).
                events.Add((held[i], from + (i == held.Count - 1 ? position : start)));
            }
        }

        if (position < bytes.Length && !damaged)
        {
            Skipped++; // a tail shorter than a record header
        }

        return (events, from + validEnd, last);
    }

    /// <summary>Where the next record's magic (of any form) starts in <paramref name="bytes"/>; -1 when none does.</summary>
    private static int NextMagic(ReadOnlySpan<byte> bytes)
    {
        for (var at = 0; at + 4 <= bytes.Length;)
        {
            var next = bytes[at..].IndexOf("EVT"u8);
            if (next < 0 || at + next + 4 > bytes.Length)
            {
                return -1;
            }

            if (bytes[at + next + 3] is (byte)'1' or (byte)'2' or (byte)'B')
            {
                return at + next;
            }

            at += next + 1;
        }

        return -1;
    }
}
