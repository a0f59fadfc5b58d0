using Coordinator.Client;
using Coordinator.Client.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Grains.Tests;

/// <summary>The cluster client a Coordinator client process builds: its call filters follow its options.</summary>
public sealed class ClientHostingTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_client_stamps_its_calls_unless_told_not_to(bool stamp)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddCoordinatorClusterClient(new CoordinatorClusterOptions(), new PersistenceOptions(), new CoordinatorClientOptions { StampCalls = stamp });
        using var host = builder.Build();

        var filters = host.Services.GetServices<IOutgoingGrainCallFilter>().Select(f => f.GetType()).ToList();

        Assert.Equal(stamp, filters.Contains(typeof(CallStampFilter)));
        Assert.NotEmpty(filters);
    }
}
