using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Coordinator.Contracts.Training;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Coordinator.Contracts.Tests;

/// <summary>
/// Messages written by the version that made the committed baseline (wire-baseline.txt: Orleans-serialized bytes of
/// <see cref="WireSamples"/>) still read, field for field, in this version; so clients and silos of both versions
/// can talk during a rolling upgrade. The baseline is regenerated with the contract (COORDINATOR_UPDATE_CONTRACT=1).
/// </summary>
public sealed class WireCompatibilityTests
{
    private const string BaselineFile = "wire-baseline.txt";

    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(Datum).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    [Fact]
    public void Messages_in_the_committed_baseline_deserialize_to_the_same_values()
    {
        var path = Path.Combine(SourceDirectory(), BaselineFile);
        if (Environment.GetEnvironmentVariable("COORDINATOR_UPDATE_CONTRACT") == "1")
        {
            var lines = WireSamples.All.Select(s => $"{s.Key} {Convert.ToBase64String(Serializer.SerializeToArray<object>(s.Value))}");
            File.WriteAllText(path, string.Join("\n", lines) + "\n");
        }

        var baseline = File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => l.Split(' ', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        var failures = new StringBuilder();
        foreach (var (name, sample) in WireSamples.All)
        {
            if (!baseline.TryGetValue(name, out var base64))
            {
                failures.AppendLine($"{name}: not in {BaselineFile} (a new message: regenerate the baseline on purpose)");
                continue;
            }

            try
            {
                var read = Serializer.Deserialize<object>(Convert.FromBase64String(base64));
                var (expected, actual) = (Json(sample), read is null ? "null" : Json(read));
                if (expected != actual)
                {
                    failures.AppendLine($"{name}: reads as {actual}, expected {expected}");
                }
            }
            catch (Exception ex)
            {
                failures.AppendLine($"{name}: does not deserialize: {ex.GetType().Name}: {ex.Message}");
            }
        }

        Assert.True(failures.Length == 0, failures.ToString());
    }

    private static string Json(object value) => JsonSerializer.Serialize(value, value.GetType());

    private static string SourceDirectory([CallerFilePath] string file = "") => Path.GetDirectoryName(file)!;
}
