using Coordinator.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Tests;

/// <summary>A silo given the grains' options validates them when it starts, with the rules <c>check-config</c> runs.</summary>
public sealed class OptionsValidationTests
{
    [Fact]
    public async Task A_silo_with_invalid_grain_options_does_not_start_and_names_every_bad_key()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Sessions:MaxModelsPerToken"] = "0",
            ["Replicas:HeartbeatTimeout"] = "00:00:01",
            ["Replicas:LivenessCheckPeriod"] = "00:00:05",
            ["Operations:ResultRetention"] = "-00:00:01",
        }).Build();
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort: 19111, gatewayPort: 39111);
            silo.AddCoordinatorGrains(configuration);
        });
        using var host = builder.Build();

        // Every section's problems at once, one OptionsValidationException per section.
        var ex = await Assert.ThrowsAsync<AggregateException>(() => host.StartAsync());

        var all = string.Join("\n", ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures));
        Assert.Contains("Sessions:MaxModelsPerToken:", all, StringComparison.Ordinal);
        Assert.Contains("Replicas:LivenessCheckPeriod:", all, StringComparison.Ordinal);
        Assert.Contains("Operations:ResultRetention:", all, StringComparison.Ordinal);
    }
}
