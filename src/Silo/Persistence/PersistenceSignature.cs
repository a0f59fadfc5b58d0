using System.Text.Json;
using Coordinator.Client.Hosting;
using Coordinator.Grains.Storage;
using StackExchange.Redis;

namespace Coordinator.Silo.Persistence;

/// <summary>
/// The part of the configuration that decides whether a silo can read the state already in the backend.
/// It is stored per cluster on first start; a later start with a different one refuses unless told to accept it,
/// because it would otherwise silently start from empty state or misread the old one.
/// </summary>
internal sealed record PersistenceSignature(string ServiceId, string StorageName, string StateFormat, int SchemaVersion)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static PersistenceSignature For(CoordinatorClusterOptions cluster) =>
        new(cluster.ServiceId, PersistenceSchema.StorageName, PersistenceSchema.StateFormat, PersistenceSchema.Version);

    /// <summary>The Redis key the signature of a cluster lives under.</summary>
    public static RedisKey KeyFor(string clusterId) => $"coordinator/{clusterId}/persistence-signature";

    /// <summary>Field-by-field differences, empty when equal.</summary>
    public IReadOnlyList<string> Diff(PersistenceSignature configured)
    {
        var diffs = new List<string>();
        void Compare(string field, object stored, object now)
        {
            if (!Equals(stored, now))
            {
                diffs.Add($"{field}: stored '{stored}', configured '{now}'");
            }
        }

        Compare(nameof(ServiceId), ServiceId, configured.ServiceId);
        Compare(nameof(StorageName), StorageName, configured.StorageName);
        Compare(nameof(StateFormat), StateFormat, configured.StateFormat);
        Compare(nameof(SchemaVersion), SchemaVersion, configured.SchemaVersion);
        return diffs;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static PersistenceSignature? FromJson(string json) => JsonSerializer.Deserialize<PersistenceSignature>(json, Json);
}

/// <summary>The result of comparing the stored signature with the configured one.</summary>
internal sealed record DriftCheckResult(bool Refused, string Message);

/// <summary>Runs the drift check against Redis before the silo starts.</summary>
internal static class DriftCheck
{
    public static async Task<DriftCheckResult> RunAsync(IDatabase db, CoordinatorClusterOptions cluster, bool acceptDrift)
    {
        var key = PersistenceSignature.KeyFor(cluster.ClusterId);
        var configured = PersistenceSignature.For(cluster);
        var raw = await db.StringGetAsync(key);
        if (raw.IsNullOrEmpty)
        {
            await db.StringSetAsync(key, configured.ToJson());
            return new(false, $"Stored the persistence signature of cluster '{cluster.ClusterId}' (first start).");
        }

        PersistenceSignature? stored;
        try
        {
            stored = PersistenceSignature.FromJson(raw.ToString());
        }
        catch (JsonException)
        {
            stored = null;
        }

        var diffs = stored is null ? [$"the stored signature under '{key}' is unreadable"] : stored.Diff(configured);
        if (diffs.Count == 0)
        {
            return new(false, "Persistence signature matches the stored one.");
        }

        if (acceptDrift)
        {
            await db.StringSetAsync(key, configured.ToJson());
            return new(false, $"Accepted configuration drift for cluster '{cluster.ClusterId}' ({string.Join("; ", diffs)}); stored the new signature.");
        }

        return new(true,
            $"Refusing to start: the persistence configuration of cluster '{cluster.ClusterId}' differs from the one its state was written with:{Environment.NewLine}"
            + string.Join(Environment.NewLine, diffs.Select(d => "  - " + d)) + Environment.NewLine
            + "Remedy: start with the stored values; or remove the old state with 'clear-persistence'; "
            + "or start with --accept-drift to adopt the new configuration (state written under the old values is not read).");
    }
}
