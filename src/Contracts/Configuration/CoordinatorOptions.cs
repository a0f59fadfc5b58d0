using System.ComponentModel.DataAnnotations;

namespace Coordinator.Contracts.Configuration;

/// <summary>Marks a configuration value that must never be printed or logged as is.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SecretAttribute : Attribute;

/// <summary>Cluster identity and the silo's endpoints (section <c>Cluster</c>).</summary>
public sealed class CoordinatorClusterOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Cluster";

    /// <summary>Identifies one deployment of silos that talk to each other; may change across upgrades.</summary>
    public string ClusterId { get; set; } = "coordinator-dev";

    /// <summary>Identifies the service whose state is persisted; must stay the same for state to survive.</summary>
    public string ServiceId { get; set; } = "coordinator";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Client gateway port.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>IP address other silos and clients use to reach this silo.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";
}

/// <summary>Which backend grain state lives in.</summary>
public enum PersistenceProvider
{
    /// <summary>In-process memory: the embedded default; state is lost when the silo stops.</summary>
    Memory,
    /// <summary>A Redis server shared by every silo of the cluster: clustering, grain state and reminders.</summary>
    Redis,
}

/// <summary>The shared state backend (section <c>Persistence</c>).</summary>
public sealed class PersistenceOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Persistence";

    /// <summary>The backend; when not set, Redis if a connection string is given, otherwise memory.</summary>
    public PersistenceProvider? Provider { get; set; }

    /// <summary>StackExchange.Redis connection string, for example <c>127.0.0.1:6379,password=...</c>.</summary>
    [Secret]
    public string? RedisConnectionString { get; set; }

    /// <summary>The backend in effect.</summary>
    public PersistenceProvider EffectiveProvider =>
        Provider ?? (string.IsNullOrWhiteSpace(RedisConnectionString) ? PersistenceProvider.Memory : PersistenceProvider.Redis);
}

/// <summary>The HTTP endpoint serving health, metrics and the dashboard (section <c>Http</c>).</summary>
public sealed class HttpEndpointOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Http";

    /// <summary>TCP port.</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Address to bind; loopback by default because the dashboard has no authentication.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Serve the Orleans dashboard at /dashboard.</summary>
    public bool DashboardEnabled { get; set; } = true;
}

/// <summary>Session leases and per-owner limits (section <c>Sessions</c>).</summary>
public sealed class CoordinatorSessionOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Sessions";

    /// <summary>A session without a heartbeat for this long expires and releases its models.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often an active session checks its own lease.</summary>
    public TimeSpan ExpiryCheckPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most live models one owner token may hold across all its sessions.</summary>
    [Range(1, 100_000)]
    public int MaxModelsPerToken { get; set; } = 32;
}

/// <summary>Replica health (section <c>Replicas</c>).</summary>
public sealed class ReplicaOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Replicas";

    /// <summary>A replica without a heartbeat for this long is declared dead and its adapters are released.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a replica grain checks its heartbeat while active.</summary>
    public TimeSpan LivenessCheckPeriod { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Training operations on models (section <c>Models</c>).</summary>
public sealed class ModelOperationOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Models";

    /// <summary>How long a finished operation's result stays readable.</summary>
    public TimeSpan ResultRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most operations one model may have queued behind the running one.</summary>
    [Range(1, 100_000)]
    public int MaxQueuedOperations { get; set; } = 1024;

    /// <summary>Most finished results one model keeps; the oldest go first once retention allows nothing else.</summary>
    [Range(1, 1_000_000)]
    public int MaxRetainedResults { get; set; } = 4096;
}

/// <summary>Traces and metrics export (section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Telemetry";

    /// <summary>OTLP endpoint for traces and metrics; no export when empty.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Serve Prometheus metrics at /metrics.</summary>
    public bool PrometheusEnabled { get; set; } = true;
}
