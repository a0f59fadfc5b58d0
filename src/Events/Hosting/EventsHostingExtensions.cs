using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Emitting;
using Coordinator.Events.Resources;
using Coordinator.Events.Spool;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Serialization;

namespace Coordinator.Events.Hosting;

/// <summary>Adds run events to a node.</summary>
public static class EventsHostingExtensions
{
    /// <summary>
    /// Records this node's run events (<see cref="IRunEvents"/>) in its spool, <c>{Directory}/{nodeId}</c>: a
    /// <see cref="RunStarted"/> when the host starts, a <see cref="ResourceSnapshot"/> every <c>ResourcePeriod</c>, and
    /// what the node's code emits; the spool is flushed when the host stops. With events disabled, facts are dropped.
    /// </summary>
    public static IServiceCollection AddCoordinatorEvents(
        this IServiceCollection services, EventsOptions options, string runId, string nodeId, NodeRole role, string configHash)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled)
        {
            services.AddSingleton<IRunEvents>(NoRunEvents.Instance);
            return services;
        }

        var run = options.RunId.Length > 0 ? options.RunId : runId;
        services.AddSingleton(sp => EventSpool.Open(Path.Combine(options.Directory, nodeId), sp.GetRequiredService<Serializer>()));
        services.AddSingleton(sp => new HybridClock(sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton(sp => new EventEmitter(
            sp.GetRequiredService<EventSpool>(), sp.GetRequiredService<HybridClock>(), sp.GetService<TimeProvider>() ?? TimeProvider.System, run, nodeId));
        services.AddSingleton<IRunEvents>(sp => sp.GetRequiredService<EventEmitter>());
        services.AddHostedService(sp => new RunLifetime(sp.GetRequiredService<EventEmitter>(), role, configHash));
        services.AddHostedService(sp => new ResourceSampler(
            sp.GetRequiredService<IRunEvents>(), sp.GetService<TimeProvider>() ?? TimeProvider.System, options.ResourcePeriod, options.Directory));
        return services;
    }

    /// <summary>Emits the node's <see cref="RunStarted"/>, and writes out what is queued when the host stops.</summary>
    private sealed class RunLifetime(EventEmitter emitter, NodeRole role, string configHash) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var version = typeof(RunLifetime).Assembly.GetName().Version?.ToString() ?? "0";
            emitter.Emit(new RunStarted(role, configHash, version, DateTimeOffset.UtcNow));
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken) => await emitter.DisposeAsync();
    }
}
