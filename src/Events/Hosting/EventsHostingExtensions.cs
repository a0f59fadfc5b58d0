using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Coordinator.Events.Emitting;
using Coordinator.Events.Live;
using Coordinator.Events.Resources;
using Coordinator.Events.Shipping;
using Coordinator.Events.Spool;
using Coordinator.Events.Store;
using Coordinator.Events.Timeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Streams;
using StackExchange.Redis;

namespace Coordinator.Events.Hosting;

/// <summary>Adds run events to a node.</summary>
public static class EventsHostingExtensions
{
    /// <summary>
    /// Records this node's run events (<see cref="IRunEvents"/>) in its spool, <c>{Directory}/{nodeId}</c>: a
    /// <see cref="RunStarted"/> when the host starts, a <see cref="ResourceSnapshot"/> every <c>ResourcePeriod</c>, and
    /// what the node's code emits, and its warning and error log lines (<see cref="LogRecorder"/>); ships them to the recorders (<see cref="EventShipper"/>). Call it after
    /// <c>UseOrleans</c>: its services then start once the silo has joined, and stop (writing out the queue, shipping the
    /// rest) before it leaves. With events disabled, facts are dropped.
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
        services.AddCoordinatorClockPropagation();
        services.AddSingleton(sp => new EventEmitter(
            sp.GetRequiredService<EventSpool>(), sp.GetRequiredService<HybridClock>(), sp.GetService<TimeProvider>() ?? TimeProvider.System, run, nodeId,
            sp.GetService<ILoggerFactory>()?.CreateLogger<EventEmitter>()));
        services.AddSingleton<IRunEvents>(sp => sp.GetRequiredService<EventEmitter>());

        // Resolved at the first warning, not when logging is built: the emitter itself takes a logger.
        services.AddSingleton(sp => new LogRecorder(sp.GetRequiredService<IRunEvents>, sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton<ILoggerProvider>(sp => sp.GetRequiredService<LogRecorder>());
        services.AddSingleton(options);
        if (options.ExportOtlp)
        {
            services.AddSingleton<EventLogExport>();
            services.AddLogging(l => l.AddFilter<ConsoleLoggerProvider>(EventLogExport.Category, LogLevel.None));
        }

        services.AddSingleton<EventShipper>();

        // Stopped in reverse: the emitter writes out its queue first, then the shipper sends it.
        services.AddHostedService(sp => sp.GetRequiredService<EventShipper>());
        services.AddHostedService(sp => new RunLifetime(sp.GetRequiredService<EventEmitter>(), sp.GetRequiredService<LogRecorder>(), role, configHash));
        services.AddHostedService(sp => new ResourceSampler(
            sp.GetRequiredService<IRunEvents>(), sp.GetService<TimeProvider>() ?? TimeProvider.System, options.ResourcePeriod, options.Directory));
        return services;
    }

    /// <summary>
    /// Carries the node's <see cref="HybridClock"/> on its grain calls and merges callers' clocks into it
    /// (<see cref="ClockPropagation"/>); for a node that has a clock of its own, as every node recording events does.
    /// </summary>
    public static IServiceCollection AddCoordinatorClockPropagation(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<ClockPropagation>();
        services.AddSingleton<IOutgoingGrainCallFilter>(sp => sp.GetRequiredService<ClockPropagation>());
        services.AddSingleton<IIncomingGrainCallFilter>(sp => sp.GetRequiredService<ClockPropagation>());
        return services;
    }

    /// <summary>
    /// Keeps the run events of the cluster's nodes on this coordinator silo: the recorder grains append to Redis streams
    /// of cluster <paramref name="clusterId"/> when <paramref name="redis"/> is given (the cluster's backend), else to segment files in
    /// <c>Events:StoreDirectory</c> (the embedded default). Runs older than <c>Events:Retention</c> are pruned at start
    /// and hourly. The <see cref="TimelineCache"/> keeps the last runs read merged, for the silo's timeline API, up to
    /// <c>Events:TimelineCacheEvents</c>.
    /// </summary>
    public static IServiceCollection AddCoordinatorEventStore(this IServiceCollection services, EventsOptions options, IConnectionMultiplexer? redis, string clusterId)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton<IEventStore>(sp =>
        {
            var time = sp.GetService<TimeProvider>() ?? TimeProvider.System;
            var serializer = sp.GetRequiredService<Serializer>();
            return redis is not null
                ? new RedisEventStore(redis, serializer, time, options.Retention, clusterId)
                : new FileEventStore(options.StoreDirectory, serializer, time, options.Retention);
        });
        services.AddHostedService(sp => new EventRetention(sp.GetRequiredService<IEventStore>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton(sp => new TimelineCache(sp.GetRequiredService<IEventStore>(), options.TimelineCacheEvents));
        return services;
    }

    /// <summary>
    /// The live feed of stored events (<see cref="RunFeed"/>): memory streams on which the recorders publish what they
    /// store, read by each run's <see cref="IRunFeedGrain"/> for live views. Every silo that hosts the recorders needs it.
    /// Implicit subscriptions only, so it needs no pub-sub storage; a stream's queue dies with its silo, which costs live
    /// views a gap, never the store an event.
    /// </summary>
    public static ISiloBuilder AddCoordinatorEventFeed(this ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.AddMemoryStreams(RunFeed.Provider, streams =>
        {
            streams.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);

            // A batch a node per ship period (1 s) needs neither Orleans' 8 queues nor a poll every 100 ms: each poll is
            // a timer and a grain call on an idle silo. Two queues read every 250 ms cost live views at most 250 ms.
            streams.ConfigurePartitioning(2);
            streams.ConfigurePullingAgent(agent => agent.Configure(o => o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(250)));
        });
        return silo;
    }

    /// <summary>Prunes the store at start and every hour.</summary>
    private sealed class EventRetention(IEventStore store, TimeProvider time) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
            try
            {
                do
                {
                    await store.PruneAsync();
                }
                while (await timer.WaitForNextTickAsync(stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>Emits the node's <see cref="RunStarted"/>, and writes out what is queued when the host stops.</summary>
    private sealed class RunLifetime(EventEmitter emitter, LogRecorder logs, NodeRole role, string configHash) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var version = typeof(RunLifetime).Assembly.GetName().Version?.ToString() ?? "0";
            emitter.Emit(new RunStarted(role, configHash, version, DateTimeOffset.UtcNow));
            logs.Start();
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken) => await emitter.DisposeAsync();
    }
}
