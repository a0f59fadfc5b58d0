using Coordinator.Client.Configuration;
using Coordinator.Client.Hosting;
using Coordinator.Hosting.Configuration;
using Coordinator.Silo.Configuration;

namespace Coordinator.Silo.Tests;

public sealed class ConfigValidationTests
{
    private static readonly Dictionary<string, string?> NoOverrides = [];
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private static SiloSettings Load(Dictionary<string, string?>? overrides = null, Dictionary<string, string?>? environment = null, string? file = null) =>
        SiloSettings.Load(file, overrides ?? NoOverrides, environment ?? NoEnvironment).Settings;

    private static ConfigurationException Invalid(Dictionary<string, string?> overrides) =>
        Assert.Throws<ConfigurationException>(() => Load(overrides));

    [Fact]
    public void Defaults_are_the_embedded_single_silo()
    {
        var s = Load();
        Assert.Equal(PersistenceProvider.Memory, s.Persistence.EffectiveProvider);
        Assert.Equal(11111, s.Cluster.SiloPort);
        Assert.Equal(30000, s.Cluster.GatewayPort);
        Assert.Equal(8080, s.Http.Port);
    }

    public static TheoryData<string, string, string> BadValues => new()
    {
        { "Cluster:SiloPort", "0", "Cluster:SiloPort: must be between 1 and 65535" },
        { "Cluster:SiloPort", "70000", "Cluster:SiloPort: must be between 1 and 65535" },
        { "Cluster:SiloPort", "abc", "Cluster:SiloPort: 'abc' is not a valid whole number" },
        { "Cluster:GatewayPort", "11111", "Cluster:GatewayPort: must differ from Cluster:SiloPort" },
        { "Cluster:ClusterId", "", "Cluster:ClusterId: must not be empty" },
        { "Cluster:ServiceId", "a b", "Cluster:ServiceId: 'a b' may only contain" },
        { "Cluster:AdvertisedAddress", "localhost!", "Cluster:AdvertisedAddress: 'localhost!' is not an IP address" },
        { "Http:Port", "30000", "Http:Port: 30000 is already used" },
        { "Http:BindAddress", "nowhere", "Http:BindAddress: 'nowhere' is not an IP address" },
        { "Dashboard:Enabled", "maybe", "Dashboard:Enabled: 'maybe' is not a valid boolean" },
        { "Persistence:Provider", "Redis", "Persistence:RedisConnectionString: is required when Persistence:Provider is Redis" },
        { "Persistence:Provider", "Postgres", "Persistence:Provider: 'Postgres' is not a valid value (one of: Memory, Redis)" },
        { "Persistence:Provider", "1", "Persistence:Provider: '1' is not a valid value" },
        { "Sessions:IdleTimeout", "-00:00:01", "Sessions:IdleTimeout: must be positive" },
        { "Sessions:IdleTimeout", "soon", "Sessions:IdleTimeout: 'soon' is not a valid duration" },
        { "Sessions:ExpiryCheckPeriod", "01:00:00", "Sessions:ExpiryCheckPeriod: must not exceed Sessions:IdleTimeout" },
        { "Sessions:MaxModelsPerToken", "0", "Sessions:MaxModelsPerToken: must be between 1 and 100000 (got 0)" },
        { "Operations:MaxQueuedOperations", "0", "Operations:MaxQueuedOperations: must be between 1 and 100000 (got 0)" },
        { "Operations:MaxRetainedResults", "-1", "Operations:MaxRetainedResults: must be between 1 and 1000000 (got -1)" },
        { "Replicas:HeartbeatTimeout", "00:00:00", "Replicas:HeartbeatTimeout: must be positive" },
        { "Replicas:LivenessCheckPeriod", "00:05:00", "Replicas:LivenessCheckPeriod: must not exceed Replicas:HeartbeatTimeout" },
        { "Telemetry:OtlpEndpoint", "collector:4317", "Telemetry:OtlpEndpoint: 'collector:4317' is not an absolute http(s) URL" },
        { "Telemetry:OtlpProtocol", "http", "Telemetry:OtlpProtocol: " },
        { "Events:ExportOtlp", "true", "Events:ExportOtlp: events are exported with the node's logs, so it needs Telemetry:OtlpEndpoint" },
        { "Events:TimelineCacheEvents", "0", "Events:TimelineCacheEvents: must be between 1 and 2147483647 (got 0)" },
        { "Cluster:SiloPortt", "1", "Cluster:SiloPortt: unknown key" },
        { "Clusterr:SiloPort", "1", "Clusterr: unknown section" },
        { "Cluster:SiloPort:Inner", "1", "Cluster:SiloPort: expected a single value" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void Each_rule_names_the_offending_key(string key, string value, string expected)
    {
        var ex = Invalid(new() { [key] = value });
        Assert.Contains(ex.Errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Events_are_exported_over_OTLP_only_where_the_logs_are()
    {
        var endpoint = new Dictionary<string, string?> { ["Telemetry:OtlpEndpoint"] = "http://127.0.0.1:4318", ["Telemetry:OtlpProtocol"] = "HttpProtobuf", ["Events:ExportOtlp"] = "true" };
        Assert.True(Load(endpoint).Events.ExportOtlp);
        var withoutLogs = Invalid(new(endpoint) { ["Telemetry:ExportLogs"] = "false" });
        Assert.Single(withoutLogs.Errors, e => e.StartsWith("Events:ExportOtlp:", StringComparison.Ordinal));
    }

    [Fact]
    public void Memory_provider_with_a_redis_connection_string_is_a_conflict()
    {
        var ex = Invalid(new() { ["Persistence:Provider"] = "Memory", ["Persistence:RedisConnectionString"] = "127.0.0.1:6379" });
        Assert.Contains(ex.Errors, e => e.StartsWith("Persistence:RedisConnectionString: is set but Persistence:Provider is Memory", StringComparison.Ordinal));
    }

    [Fact]
    public void A_connection_string_selects_redis_and_a_malformed_one_is_rejected_without_echoing_the_password()
    {
        Assert.Equal(PersistenceProvider.Redis, Load(new() { ["Persistence:RedisConnectionString"] = "127.0.0.1:6379" }).Persistence.EffectiveProvider);
        var ex = Invalid(new() { ["Persistence:RedisConnectionString"] = "password=hunter2" });
        Assert.Contains(ex.Errors, e => e.StartsWith("Persistence:RedisConnectionString: names no host:port endpoint", StringComparison.Ordinal));
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void All_problems_are_reported_at_once()
    {
        var ex = Invalid(new() { ["Cluster:SiloPort"] = "0", ["Sessions:MaxModelsPerToken"] = "0", ["Http:Port"] = "99999" });
        Assert.Equal(3, ex.Errors.Count);
    }

    [Fact]
    public void Environment_overrides_the_file_and_the_command_line_overrides_the_environment()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{ "Cluster": { "SiloPort": 12000, "GatewayPort": 31000 }, "Sessions": { "MaxModelsPerToken": 5 } }""");
            var env = new Dictionary<string, string?> { ["COORDINATOR_Cluster__SiloPort"] = "13000", ["UNRELATED_VARIABLE"] = "x", ["COORDINATOR_Sessions__MaxModelsPerToken"] = "6" };
            var s = Load(new() { ["Sessions:MaxModelsPerToken"] = "7" }, env, file);
            Assert.Equal(13000, s.Cluster.SiloPort);
            Assert.Equal(31000, s.Cluster.GatewayPort);
            Assert.Equal(7, s.Sessions.MaxModelsPerToken);

            var bad = Assert.Throws<ConfigurationException>(() => Load(environment: new() { ["COORDINATOR_Sesions__IdleTimeout"] = "00:01:00" }, file: file));
            Assert.Contains(bad.Errors, e => e.StartsWith("Sesions: unknown section", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Missing_or_malformed_file_is_a_clear_error()
    {
        var missing = Assert.Throws<ConfigurationException>(() => Load(file: "/nonexistent/coordinator.json"));
        Assert.Contains("/nonexistent/coordinator.json", missing.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "{ \"Cluster\": { ");
            var malformed = Assert.Throws<ConfigurationException>(() => Load(file: file));
            Assert.Contains("not valid JSON", malformed.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Printed_configuration_is_normalized_and_redacts_secrets()
    {
        var s = Load(new() { ["Persistence:RedisConnectionString"] = "10.1.2.3:6380,password=hunter2,ssl=true", ["Sessions:IdleTimeout"] = "0.01:00:00" });
        var json = Redaction.ToRedactedJson(s);
        Assert.DoesNotContain("hunter2", json, StringComparison.Ordinal);
        Assert.Contains("10.1.2.3:6380,password=***,ssl=true", json, StringComparison.Ordinal);
        Assert.Contains("\"IdleTimeout\": \"01:00:00\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Provider\": \"Redis\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("EffectiveProvider", json, StringComparison.Ordinal);
        Assert.Equal("***", Secrets.Redact("hunter2"));
    }
}
