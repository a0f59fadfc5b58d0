using Coordinator.Client;
using Coordinator.Client.Hosting;
using Coordinator.Events.Emitting;
using Coordinator.Events.Store;
using Coordinator.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Coordinator.Grains.Tests;

/// <summary>
/// An in-process cluster of real silos running the Coordinator grains, with the grains' clock replaced by a
/// <see cref="FakeTimeProvider"/> shared by every silo so leases and heartbeats move only when a test says so.
/// </summary>
public sealed class CoordinatorCluster : IAsyncDisposable
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan ResultRetention = TimeSpan.FromMinutes(10);
    public const int MaxQueuedOperations = 16;

    private CoordinatorCluster(InProcessTestCluster cluster, FakeTimeProvider time)
    {
        Cluster = cluster;
        Time = time;
        Client = new CoordinatorClient(cluster.Client);
    }

    public InProcessTestCluster Cluster { get; }

    public FakeTimeProvider Time { get; }

    public CoordinatorClient Client { get; }

    public IGrainFactory Grains => Cluster.Client;

    /// <summary>
    /// Starts the cluster on <paramref name="persistence"/>, or on <paramref name="storage"/> (a test double) when given;
    /// the grains' run events go to <paramref name="events"/> when given (dropped otherwise); the event recorders keep what
    /// nodes ship in <paramref name="eventStore"/>. The slow-call file is off unless <paramref name="settings"/> (configuration
    /// keys and values that replace the defaults) names its directory. <paramref name="configureSilo"/> adds what a test needs
    /// to every silo (a test double's filter).
    /// </summary>
    public static async Task<CoordinatorCluster> StartAsync(
        short silos, PersistenceOptions? persistence = null, int maxModelsPerToken = 1000, IGrainStorage? storage = null, IRunEvents? events = null,
        IEventStore? eventStore = null, IReadOnlyDictionary<string, string?>? settings = null, Action<ISiloBuilder>? configureSilo = null)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Sessions:IdleTimeout"] = IdleTimeout.ToString(),
            ["Sessions:ExpiryCheckPeriod"] = "00:01:00",
            ["Sessions:MaxModelsPerToken"] = maxModelsPerToken.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Replicas:HeartbeatTimeout"] = HeartbeatTimeout.ToString(),
            ["Replicas:LivenessCheckPeriod"] = "00:00:30",
            ["Operations:MaxQueuedOperations"] = MaxQueuedOperations.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Operations:ResultRetention"] = ResultRetention.ToString(),
            ["Diagnostics:SlowCallDirectory"] = "",
        }).AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build();
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddKeyedSingleton<TimeProvider>(CoordinatorTime.ServiceKey, time);
            if (events is not null)
            {
                silo.Services.AddSingleton(events);
            }

            if (eventStore is not null)
            {
                silo.Services.AddSingleton(eventStore);
            }

            silo.AddCoordinatorGrains(configuration);
            if (storage is null)
            {
                silo.UseCoordinatorPersistence(persistence ?? new PersistenceOptions());
            }
            else
            {
                silo.Services.AddGrainStorage(Storage.PersistenceSchema.StorageName, (_, _) => storage);
                silo.UseInMemoryReminderService();
            }

            configureSilo?.Invoke(silo);
        });
        builder.ConfigureClient(client => client.AddActivityPropagation().AddOutgoingGrainCallFilter<CallStampFilter>());
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new CoordinatorCluster(cluster, time);
    }

    /// <summary>A model in a fresh session, on a fresh replica (of a fresh base model) played by the trainer test double.</summary>
    public async Task<(string ModelId, string ReplicaId, TrainerScript Script)> ModelOnNewReplicaAsync()
    {
        var baseModel = TestData.Id("base");
        var replica = TestData.Id("rep");
        var script = TrainerDoubleGrain.Scripts.GetOrAdd(replica, _ => new TrainerScript());
        await Client.RegisterReplicaAsync(replica, TestData.Replica(baseModel, 2) with { Endpoint = $"host-of-{replica}" });
        var token = TestData.Id("tok");
        var session = await Client.OpenSessionAsync(token);
        var model = await Client.CreateModelAsync(session.SessionId, token, baseModel, TestData.Lora());
        return (model.ModelId, replica, script);
    }

    public async ValueTask DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>One cluster of two silos on memory storage, shared by the tests of a class.</summary>
public sealed class TwoSiloClusterFixture : IAsyncLifetime
{
    public CoordinatorCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await CoordinatorCluster.StartAsync(2);

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
