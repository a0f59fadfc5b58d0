using Coordinator.TrainerHost.Configuration;
using Coordinator.TrainerHost.Hosting;
using Coordinator.TrainerHost.Trainers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coordinator.TrainerHost.Tests;

/// <summary>The trainer host's services, as composed for a run (built, not started).</summary>
public sealed class HostCompositionTests
{
    [Fact]
    public async Task The_engine_starts_before_the_silo_joins_and_the_replica_registers_after()
    {
        // Hosted services start in registration order; why the engine goes first is on TrainerRuntime.
        var (settings, configuration) = TrainerSettings.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?>());
        await using var host = TrainerHostBuilder.Build(settings, configuration);

        var order = host.Services.GetServices<IHostedService>().Select(s => s.GetType().Name).ToList();

        var engine = order.IndexOf(nameof(TrainerRuntime));
        var silo = order.IndexOf("SiloHostedService"); // Orleans' service that starts the silo and joins the cluster
        var registration = order.IndexOf(nameof(ReplicaRegistration));
        Assert.True(engine >= 0 && silo >= 0 && registration >= 0, $"hosted services: {string.Join(", ", order)}");
        Assert.True(engine < silo && silo < registration, $"hosted services in start order: {string.Join(", ", order)}");
    }
}
