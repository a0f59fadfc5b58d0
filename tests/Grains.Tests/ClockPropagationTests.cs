using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Events.Clock;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace Coordinator.Grains.Tests;

/// <summary>A callee's hybrid clock moves past its caller's on every grain call, so effects stamp after their causes.</summary>
public sealed class ClockPropagationTests
{
    [Fact]
    public async Task A_silo_whose_wall_clock_is_an_hour_behind_stamps_after_the_call_that_reached_it()
    {
        var siloTime = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 14, 0, 0, TimeSpan.Zero));
        var callerTime = new FakeTimeProvider(siloTime.GetUtcNow());
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddSingleton(new HybridClock(siloTime));
            silo.Services.AddCoordinatorClockPropagation();
            silo.AddCoordinatorGrains(new ConfigurationBuilder().Build());
            silo.UseCoordinatorPersistence(new PersistenceOptions());
        });
        var callerClock = new HybridClock(callerTime);
        builder.ConfigureClient(client =>
        {
            client.Services.AddSingleton(callerClock);
            client.Services.AddCoordinatorClockPropagation();
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var siloClock = cluster.Silos[0].ServiceProvider.GetRequiredService<HybridClock>();
        callerTime.Advance(TimeSpan.FromHours(1));
        var before = siloClock.Next();

        await new CoordinatorClient(cluster.Client).OpenSessionAsync(TestData.Id("tok"));
        var after = siloClock.Next();

        // The silo's wall clock never moved: only the call can have carried the caller's hour into the silo's clock.
        Assert.True(before.WallMilliseconds < siloTime.GetUtcNow().AddMinutes(1).ToUnixTimeMilliseconds(), $"{before}");
        Assert.Equal(callerTime.GetUtcNow().ToUnixTimeMilliseconds(), after.WallMilliseconds);
    }
}
