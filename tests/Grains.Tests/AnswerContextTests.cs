using System.Collections.Concurrent;
using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Contracts.Telemetry;
using Coordinator.Events.Clock;
using Coordinator.Events.Hosting;
using Coordinator.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Coordinator.Grains.Tests;

/// <summary>
/// Orleans answers a call with the request context the call arrived with. The send stamp and the hybrid clock are for
/// the receiver only, so the receiving filters take them out before the handler runs, and answers travel without them.
/// </summary>
public sealed class AnswerContextTests
{
    [Fact]
    public async Task An_answer_is_built_without_the_stamp_and_the_clock_its_call_arrived_with()
    {
        var seen = new ConcurrentQueue<(string Method, bool[] Arrived, bool[] Answered)>();
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            // First of all filters, so what it reads after the call is what Orleans builds the answer from.
            silo.Services.Insert(0, ServiceDescriptor.Singleton<IIncomingGrainCallFilter>(new ContextProbe(seen)));
            silo.Services.AddSingleton(new HybridClock(TimeProvider.System));
            silo.Services.AddCoordinatorClockPropagation();
            silo.AddCoordinatorGrains(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Diagnostics:SlowCallDirectory"] = "" }).Build());
            silo.UseCoordinatorPersistence(new PersistenceOptions());
        });
        builder.ConfigureClient(client =>
        {
            client.Services.AddSingleton(new HybridClock(TimeProvider.System));
            client.Services.AddCoordinatorClockPropagation();
            client.AddOutgoingGrainCallFilter<CallStampFilter>();
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();

        await new CoordinatorClient(cluster.Client).OpenSessionAsync(TestData.Id("tok"));

        var call = Assert.Single(seen, s => s.Method == nameof(Contracts.Sessions.ISessionGrain.CreateAsync));
        Assert.Equal([true, true], call.Arrived);
        Assert.All(seen, s => Assert.Equal([false, false], s.Answered));
    }

    /// <summary>Whether the stamp and the clock are in the call's context when it arrives, and after its handler.</summary>
    private sealed class ContextProbe(ConcurrentQueue<(string, bool[], bool[])> seen) : IIncomingGrainCallFilter
    {
        public async Task Invoke(IIncomingGrainCallContext context)
        {
            var arrived = Present();
            await context.Invoke();
            seen.Enqueue((context.MethodName, arrived, Present()));
        }

        private static bool[] Present() => [RequestContext.Get(CallStamp.Key) is not null, RequestContext.Get(ClockPropagation.Key) is not null];
    }
}
