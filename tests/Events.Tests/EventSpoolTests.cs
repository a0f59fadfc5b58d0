using Coordinator.Contracts.Events;
using Coordinator.Events.Spool;

namespace Coordinator.Events.Tests;

/// <summary>The local spool keeps every appended event across a crash, and skips (and counts) what a crash or a disk damaged.</summary>
public sealed class EventSpoolTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("coordinator-spool-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private EventSpool Open(long segmentBytes = 4 << 20) => EventSpool.Open(_directory, Samples.Serializer, segmentBytes);

    private static void AppendRange(EventSpool spool, int from, int count)
    {
        for (var sequence = from; sequence < from + count; sequence++)
        {
            spool.Append(Samples.Event(sequence));
        }
    }

    [Fact]
    public void Events_appended_are_read_back_in_order_after_reopening_across_segments()
    {
        using (var spool = Open(segmentBytes: 2048))
        {
            AppendRange(spool, 1, 300);
        }

        using var reopened = Open(segmentBytes: 2048);

        Assert.True(Directory.GetFiles(_directory).Length > 5);
        Assert.Equal(300, reopened.LastSequence);
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), reopened.ReadAfter(0).Select(e => e.Stamp.Sequence));
        Assert.Equal(0, reopened.Skipped);
    }

    [Fact]
    public void A_torn_tail_is_skipped_counted_and_cut_so_appending_goes_on()
    {
        using (var spool = Open())
        {
            AppendRange(spool, 1, 10);
        }

        var segment = Directory.GetFiles(_directory).Single();
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.SetLength(file.Length - 5); // the crash cut the last record short
        }

        using var reopened = Open();
        Assert.Equal(9, reopened.LastSequence);
        Assert.Equal(1, reopened.Skipped);
        reopened.Append(Samples.Event(10));
        reopened.Append(Samples.Event(11));

        Assert.Equal(Enumerable.Range(1, 11).Select(i => (long)i), reopened.ReadAfter(0).Select(e => e.Stamp.Sequence));
    }

    [Theory]
    [InlineData(0)] // the magic
    [InlineData(5)] // the length
    [InlineData(9)] // the checksum
    [InlineData(30)] // the payload
    public void A_flipped_byte_skips_that_record_only(int offsetInRecord)
    {
        long recordStart;
        using (var spool = Open())
        {
            AppendRange(spool, 1, 4);
            spool.Flush();
            recordStart = new FileInfo(Directory.GetFiles(_directory).Single()).Length;
            AppendRange(spool, 5, 5);
        }

        var segment = Directory.GetFiles(_directory).Single();
        var bytes = File.ReadAllBytes(segment);
        bytes[recordStart + offsetInRecord] ^= 0x5A;
        File.WriteAllBytes(segment, bytes);

        using var reopened = Open();
        var read = reopened.ReadAfter(0).Select(e => e.Stamp.Sequence).ToList();

        Assert.Equal([1L, 2, 3, 4, 6, 7, 8, 9], read);
        Assert.True(reopened.Skipped >= 1);
        Assert.Equal(9, reopened.LastSequence);
    }

    [Fact]
    public void Blocks_are_read_beside_single_records_and_reading_on_from_inside_a_block_returns_the_rest_of_it()
    {
        using (var store = EventSpool.Open(_directory, Samples.Serializer, gapless: false))
        {
            AppendRange(store, 1, 3); // a store's records as earlier versions wrote them: one event each
            store.AppendBlock([.. Enumerable.Range(4, 500).Select(i => Samples.Event(i))]);
            store.AppendBlock([Samples.Event(504)]);
            Assert.Equal(504, store.LastSequence);
            Assert.Throws<ArgumentException>(() => store.AppendBlock([Samples.Event(600), Samples.Event(600)]));
            Assert.Equal(504, store.LastSequence);
        }

        using var reopened = EventSpool.Open(_directory, Samples.Serializer, gapless: false);
        Assert.Equal(504, reopened.LastSequence);
        var read = new List<RunEvent>();
        for (var batch = reopened.ReadAfter(0, max: 7); batch.Count > 0; batch = reopened.ReadAfter(read[^1].Stamp.Sequence, max: 7))
        {
            read.AddRange(batch);
        }

        Assert.Equal(Enumerable.Range(1, 504).Select(i => Samples.Event(i).Stamp), read.Select(e => e.Stamp));
        Assert.Equal(Enumerable.Range(1, 504).Select(i => Samples.Event(i).Body.Type), read.Select(e => e.Body.Type));
        Assert.Equal(0, reopened.Skipped);
    }

    [Fact]
    public void Ids_that_repeat_from_event_to_event_are_read_as_one_string_and_the_pool_keeps_a_bounded_number()
    {
        using (var store = EventSpool.Open(_directory, Samples.Serializer, gapless: false))
        {
            AppendRange(store, 1, 2);
            store.AppendBlock([Samples.Event(3), Samples.Event(4)]);
        }

        using var reopened = EventSpool.Open(_directory, Samples.Serializer, gapless: false);
        var read = reopened.ReadAfter(0);
        Assert.Equal(4, read.Count);
        Assert.All(read, e => Assert.Same(read[0].Stamp.NodeId, e.Stamp.NodeId));
        Assert.All(read, e => Assert.Same(read[0].Stamp.RunId, e.Stamp.RunId));
        Assert.All(read, e => Assert.Same(read[0].Tags.ModelId, e.Tags.ModelId));

        var pool = new TextPool();
        var ids = Enumerable.Range(0, TextPool.Capacity + 1).Select(i => System.Text.Encoding.UTF8.GetBytes($"node-{i}")).ToList();
        var first = ids.Select(id => pool.Get(id)).ToList();
        Assert.Same(first[0], pool.Get(ids[0]));
        Assert.Equal(first[^1], pool.Get(ids[^1]));
        Assert.NotSame(first[^1], pool.Get(ids[^1]));
    }

    [Fact]
    public void A_damaged_block_is_skipped_and_counted_and_the_blocks_around_it_are_read()
    {
        long second;
        using (var store = EventSpool.Open(_directory, Samples.Serializer, gapless: false))
        {
            store.AppendBlock([.. Enumerable.Range(1, 100).Select(i => Samples.Event(i))]);
            store.Flush();
            second = new FileInfo(Directory.GetFiles(_directory).Single()).Length;
            store.AppendBlock([.. Enumerable.Range(101, 100).Select(i => Samples.Event(i))]);
            store.AppendBlock([.. Enumerable.Range(201, 100).Select(i => Samples.Event(i))]);
        }

        var segment = Directory.GetFiles(_directory).Single();
        var bytes = File.ReadAllBytes(segment);
        bytes[second + 40] ^= 0x5A;
        File.WriteAllBytes(segment, bytes);

        using var reopened = EventSpool.Open(_directory, Samples.Serializer, gapless: false);
        Assert.Equal([.. Enumerable.Range(1, 100), .. Enumerable.Range(201, 100)], reopened.ReadAfter(0).Select(e => (int)e.Stamp.Sequence));
        Assert.True(reopened.Skipped >= 1);
    }

    [Fact]
    public void Events_beyond_a_blocks_size_go_to_further_blocks_and_an_event_too_large_for_a_record_appends_nothing()
    {
        var large = Enumerable.Range(1, 3).Select(i => Samples.Event(i, new LogRecorded(LogSeverity.Warning, "test", new string('x', 100_000), null))).ToList();
        using (var store = EventSpool.Open(_directory, Samples.Serializer, gapless: false))
        {
            store.AppendBlock(large);
            var huge = Samples.Event(4, new LogRecorded(LogSeverity.Warning, "test", new string('y', EventSpool.MaxEventBytes), null));
            Assert.Throws<ArgumentException>(() => store.AppendBlock([Samples.Event(4), huge]));
            Assert.Equal(3, store.LastSequence);
        }

        var blocks = EventBlock.Encode(large, Samples.Serializer);
        Assert.Equal([(1L, 2L), (3L, 3L)], blocks.Select(b => (b.First, b.Last)));

        // The largest event a node's spool takes, of bytes that do not compress, is a block a store takes too.
        var random = new Random(5);
        var noise = new string([.. Enumerable.Range(0, EventSpool.MaxEventBytes - 512).Select(_ => (char)random.Next(33, 127))]);
        var largest = Samples.Event(4, new LogRecorded(LogSeverity.Warning, "test", noise, null));
        using (var node = EventSpool.Open(Path.Combine(_directory, "node"), Samples.Serializer))
        {
            AppendRange(node, 1, 3);
            node.Append(largest);
        }

        using (var store = EventSpool.Open(_directory, Samples.Serializer, gapless: false))
        {
            store.AppendBlock([largest]);
        }

        using var reopened = EventSpool.Open(_directory, Samples.Serializer, gapless: false);
        Assert.Equal([.. large, largest], reopened.ReadAfter(0));
        Assert.Equal(0, reopened.Skipped);
    }

    [Fact]
    public void Records_in_the_earlier_Orleans_form_are_read_beside_compact_ones()
    {
        // A segment as earlier versions wrote it: magic EVT1, length, CRC-32, the event in Orleans' binary format.
        Directory.CreateDirectory(_directory);
        using (var file = File.Create(Path.Combine(_directory, $"{1:D19}.seg")))
        {
            foreach (var sequence in new long[] { 1, 2 })
            {
                var payload = Samples.Serializer.SerializeToArray(Samples.Event(sequence));
                var header = new byte[12];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header, 0x31545645);
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), payload.Length);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), System.IO.Hashing.Crc32.HashToUInt32(payload));
                file.Write(header);
                file.Write(payload);
            }
        }

        using (var spool = Open())
        {
            Assert.Equal(2, spool.LastSequence);
            AppendRange(spool, 3, 2);
        }

        using var reopened = Open();
        var read = reopened.ReadAfter(0);
        Assert.Equal([1L, 2, 3, 4], read.Select(e => e.Stamp.Sequence));
        Assert.All(read, e => Assert.Equal(Samples.Event(e.Stamp.Sequence).Stamp, e.Stamp));
        Assert.Equal(0, reopened.Skipped);
    }

    [Fact]
    public void Trimming_deletes_only_segments_the_recorder_holds_whole_and_a_gap_is_refused()
    {
        using var spool = Open(segmentBytes: 2048);
        AppendRange(spool, 1, 200);
        var before = Directory.GetFiles(_directory).Length;

        spool.TrimThrough(100);

        var left = spool.ReadAfter(0).Select(e => e.Stamp.Sequence).ToList();
        Assert.True(Directory.GetFiles(_directory).Length < before);
        Assert.True(left[0] <= 101, $"the spool lost events the recorder does not hold: it starts at {left[0]}");
        Assert.Equal(200, left[^1]);
        Assert.Throws<ArgumentException>(() => spool.Append(Samples.Event(202)));
    }

    [Fact]
    public void Reading_on_in_batches_while_events_are_appended_and_trimmed_returns_each_event_once_in_order()
    {
        using var spool = Open(segmentBytes: 4096);
        var read = new List<long>();
        var appended = 0;
        for (var round = 0; round < 40; round++)
        {
            AppendRange(spool, appended + 1, 25);
            appended += 25;
            var batch = spool.ReadAfter(read.Count == 0 ? 0 : read[^1], max: 37);
            read.AddRange(batch.Select(e => e.Stamp.Sequence));
            spool.TrimThrough(read[^1]);
        }

        while (spool.ReadAfter(read[^1], max: 37) is { Count: > 0 } rest)
        {
            read.AddRange(rest.Select(e => e.Stamp.Sequence));
        }

        Assert.Equal(Enumerable.Range(1, appended).Select(i => (long)i), read);
        Assert.Equal(Samples.Event(appended).Stamp, spool.ReadAfter(appended - 1).Single().Stamp);
    }
}
