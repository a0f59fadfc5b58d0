using System.Text.Json;
using System.Text.RegularExpressions;
using Coordinator.Contracts.Events;
using Coordinator.Events.Spool;

namespace Coordinator.Events.Tests;

/// <summary>Every event of the catalogue travels (Orleans' binary format) and reads back field for field.</summary>
public sealed partial class CatalogueTests
{
    [Fact]
    public void Every_event_type_has_a_sample_and_a_unique_area_dot_fact_name()
    {
        var types = typeof(RunEventBody).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(RunEventBody)) && !t.IsAbstract).ToHashSet();

        Assert.Equal(types.OrderBy(t => t.Name), Samples.Bodies.Select(b => b.GetType()).Distinct().OrderBy(t => t.Name));
        Assert.Equal(Samples.Bodies.Count, Samples.Bodies.Select(b => b.Type).Distinct().Count());
        Assert.All(Samples.Bodies, b => Assert.Matches(Name(), b.Type));
    }

    [Fact]
    public void Every_event_reads_back_field_for_field()
    {
        foreach (var body in Samples.Bodies)
        {
            var sent = Samples.Event(7, body);

            var read = Samples.Serializer.Deserialize<RunEvent>(Samples.Serializer.SerializeToArray(sent));

            Assert.NotNull(read);
            Assert.Equal(sent.Stamp, read.Stamp);
            Assert.Equal(sent.Tags, read.Tags);
            Assert.Equal(body.GetType(), read.Body.GetType());
            Assert.Equal(JsonSerializer.Serialize<object>(body), JsonSerializer.Serialize<object>(read.Body));
        }
    }

    [Fact]
    public void Every_event_reads_back_from_its_compact_form_whatever_its_stamp_and_tags()
    {
        var sample = Samples.Event(7);
        RunEvent[] variants =
        [
            sample,
            sample with { Stamp = sample.Stamp with { TraceId = null, SpanId = null } },
            sample with { Stamp = sample.Stamp with { TraceId = "|hierarchical.1.", SpanId = null } },
            sample with { Stamp = sample.Stamp with { Clock = new HybridTime(sample.Stamp.Clock.WallMilliseconds + 5_000, 3) } },
            sample with { Stamp = sample.Stamp with { Clock = new HybridTime(sample.Stamp.Clock.WallMilliseconds - 5_000, 0), Sequence = long.MaxValue } },
            sample with { Stamp = sample.Stamp with { Timestamp = new DateTimeOffset(2026, 11, 23, 15, 2, 7, 123, TimeSpan.FromHours(1)).AddTicks(4567) } },
            sample with { Tags = EventTags.None },
            sample with { Tags = new EventTags("ses-1", "mdl-ü", "op-1", "rep-1", "batch-1", "blob-1", "tr-1") },
        ];
        foreach (var sent in variants.Concat(Samples.Bodies.Select(b => Samples.Event(7, b))))
        {
            var read = EventCodec.Decode(EventCodec.Encode(sent, Samples.Serializer), Samples.Serializer);

            Assert.Equal(sent.Stamp, read.Stamp);
            Assert.Equal(sent.Tags, read.Tags);
            Assert.Equal(JsonSerializer.Serialize<object>(sent.Body), JsonSerializer.Serialize<object>(read.Body));
        }

        // A typical event: well under Orleans' form of it.
        var typical = Samples.Event(7, new TrainingFinished("forward_backward", 2.5, TimeSpan.FromMilliseconds(5.4), null));
        var compact = EventCodec.Encode(typical, Samples.Serializer).Length;
        Assert.True(compact < Samples.Serializer.SerializeToArray(typical).Length * 0.7, $"{compact} bytes");
        var truncated = EventCodec.Encode(sample, Samples.Serializer)[..20];
        Assert.ThrowsAny<Exception>(() => EventCodec.Decode(truncated, Samples.Serializer));
    }

    [Fact]
    public void Every_event_type_travels_under_a_short_alias_made_of_its_name_and_a_well_known_id()
    {
        // Without them Orleans writes the body's full type and assembly name into every record (about 70 bytes); with an
        // id, two bytes. Ids are forever: stored events name their type by it.
        Assert.All(Samples.Bodies, b => Assert.Equal($"ev:{b.Type}", Assert.Single(b.GetType().GetCustomAttributes(typeof(AliasAttribute), false).Cast<AliasAttribute>()).Alias));
        var ids = Samples.Bodies.Select(b => Assert.Single(b.GetType().GetCustomAttributes(typeof(IdAttribute), false).Cast<IdAttribute>()).Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.InRange(id, 7101u, 7199u));
    }

    [Fact]
    public void Events_written_with_full_type_names_before_the_aliases_still_read()
    {
        // Spools and stores written by earlier versions hold these bytes (one event of each type, as Samples.Event made them).
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Data", "events-full-type-names.txt"));
        Assert.Equal(Samples.Bodies.Count, lines.Length);
        foreach (var line in lines)
        {
            var index = int.Parse(line[..line.IndexOf(' ', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
            var bytes = Convert.FromBase64String(line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
            var expected = Samples.Event(index + 1, Samples.Bodies[index]);

            var read = Samples.Serializer.Deserialize<RunEvent>(bytes)!;

            Assert.Equal(expected.Stamp, read.Stamp);
            Assert.Equal(expected.Tags, read.Tags);
            Assert.Equal(JsonSerializer.Serialize<object>(expected.Body), JsonSerializer.Serialize<object>(read.Body));
            Assert.True(Samples.Serializer.SerializeToArray(expected).Length <= bytes.Length - 20, $"{expected.Body.Type} is not shorter now");
        }
    }

    [GeneratedRegex("^[a-z]+\\.[a-z_]+$")]
    private static partial Regex Name();
}
