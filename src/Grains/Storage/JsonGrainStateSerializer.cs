using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Storage;

namespace Coordinator.Grains.Storage;

/// <summary>
/// Stores grain state as plain camel-case JSON without .NET type names, so renaming or moving a state class
/// does not orphan stored state; the shape is versioned by <see cref="PersistenceSchema.Version"/> instead.
/// </summary>
public sealed class JsonGrainStateSerializer : IGrainStorageSerializer
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    /// <inheritdoc />
    public BinaryData Serialize<T>(T? input) => BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(input, Options));

    /// <inheritdoc />
    public T? Deserialize<T>(BinaryData input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options);
    }
}

/// <summary>Names and versions that decide whether stored state can be read by this build.</summary>
public static class PersistenceSchema
{
    /// <summary>The grain storage provider name every Coordinator grain uses.</summary>
    public const string StorageName = "coordinator";

    /// <summary>Format of stored grain state; bump when a state class changes incompatibly.</summary>
    public const int Version = 1;

    /// <summary>Names the serializer in the persistence signature.</summary>
    public const string StateFormat = "json-v1";
}
