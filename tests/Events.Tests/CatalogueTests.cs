using System.Text.Json;
using System.Text.RegularExpressions;
using Coordinator.Contracts.Events;

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

    [GeneratedRegex("^[a-z]+\\.[a-z_]+$")]
    private static partial Regex Name();
}
