using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Coordinator.Contracts.Errors;

namespace Coordinator.Training.Checkpoints;

/// <summary>One named float32 array with its shape.</summary>
internal sealed record NamedTensor(string Name, long[] Shape, float[] Data);

/// <summary>The JSON header of a tensor file.</summary>
internal sealed class TensorFileHeader
{
    public int FormatVersion { get; set; }
    public string Kind { get; set; } = "";
    public Dictionary<string, string> Metadata { get; set; } = [];
    public List<TensorEntry> Tensors { get; set; } = [];
}

/// <summary>Where one tensor's data sits in the payload.</summary>
internal sealed class TensorEntry
{
    public string Name { get; set; } = "";
    public long[] Shape { get; set; } = [];
    public string DType { get; set; } = "float32";
    public long Offset { get; set; }
    public long Length { get; set; }
}

/// <summary>
/// The container of adapter state and base model files (docs/adapter-state-format.md): magic, a JSON header,
/// raw little-endian float32 payload, and an XxHash64 of everything before it. Written to a temporary file and
/// renamed, so a reader never sees half a file; read whole and verified before anything is used.
/// </summary>
internal static class TensorFile
{
    public const int FormatVersion = 1;

    /// <summary>The kind of file a LoRA adapter's state (save_state, load_state) is written to.</summary>
    public const string AdapterKind = "lora-adapter";

    /// <summary>The kind of file a base model is written to (<c>save-base-model</c>, <c>Trainer:BaseModelPath</c>).</summary>
    public const string BaseModelKind = "base-model";
    private const int MaxHeaderBytes = 16 << 20;
    private const int MinFileBytes = 8 + 4 + 8;
    private static readonly byte[] Magic = "CRDTNSR1"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static long Write(string path, string kind, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<NamedTensor> tensors)
    {
        var header = new TensorFileHeader { FormatVersion = FormatVersion, Kind = kind, Metadata = new(metadata) };
        long offset = 0;
        foreach (var tensor in tensors)
        {
            var length = (long)tensor.Data.Length * sizeof(float);
            header.Tensors.Add(new TensorEntry { Name = tensor.Name, Shape = tensor.Shape, Offset = offset, Length = length });
            offset += length;
        }

        var headerBytes = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var hash = new XxHash64();
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                void Put(ReadOnlySpan<byte> bytes)
                {
                    hash.Append(bytes);
                    stream.Write(bytes);
                }

                Put(Magic);
                Span<byte> length = stackalloc byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(length, headerBytes.Length);
                Put(length);
                Put(headerBytes);
                foreach (var tensor in tensors)
                {
                    if (!BitConverter.IsLittleEndian)
                    {
                        throw new PlatformNotSupportedException("Tensor files are little-endian; big-endian hosts are not supported.");
                    }

                    Put(MemoryMarshal.AsBytes(tensor.Data.AsSpan()));
                }

                stream.Write(hash.GetCurrentHash());
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
            return new FileInfo(path).Length;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Reads and verifies a whole file; every failure is an InvalidArgument error naming the file and what is wrong.</summary>
    public static (TensorFileHeader Header, Dictionary<string, NamedTensor> Tensors) Read(string path, string expectedKind)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw CoordinatorException.InvalidArgument($"{Name(expectedKind)} '{path}' does not exist.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CoordinatorException.InvalidArgument($"{Name(expectedKind)} '{path}' cannot be read: {ex.Message}");
        }

        CoordinatorException Corrupt(string what) => CoordinatorException.InvalidArgument($"{Name(expectedKind)} '{path}' is not a valid {expectedKind} file: {what}.");

        if (bytes.Length == 0)
        {
            throw Corrupt("it is empty");
        }

        var prefix = Math.Min(bytes.Length, Magic.Length);
        if (!bytes.AsSpan(0, prefix).SequenceEqual(Magic.AsSpan(0, prefix)))
        {
            throw Corrupt("it does not start with the CRDTNSR1 magic");
        }

        if (bytes.Length < MinFileBytes)
        {
            throw Corrupt($"it is {bytes.Length} bytes long, shorter than magic, header length and checksum (truncated)");
        }

        var body = bytes.AsSpan(0, bytes.Length - 8);
        if (!XxHash64.Hash(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 8)))
        {
            throw Corrupt("its checksum does not match (truncated or damaged)");
        }

        var headerLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(Magic.Length, 4));
        var payloadStart = Magic.Length + 4 + headerLength;
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || payloadStart > body.Length)
        {
            throw Corrupt($"its header length {headerLength} is out of range");
        }

        TensorFileHeader header;
        try
        {
            header = JsonSerializer.Deserialize<TensorFileHeader>(bytes.AsSpan(Magic.Length + 4, headerLength), Json)
                ?? throw Corrupt("its header is empty");
        }
        catch (JsonException ex)
        {
            throw Corrupt($"its header is not valid JSON ({ex.Message})");
        }

        if (header.Metadata is null)
        {
            throw Corrupt("its header has no metadata");
        }

        if (header.Tensors is null)
        {
            throw Corrupt("its header has no tensor list");
        }

        if (header.FormatVersion != FormatVersion)
        {
            throw Corrupt($"format version {header.FormatVersion} is not supported (this build reads {FormatVersion})");
        }

        if (header.Kind != expectedKind)
        {
            throw Corrupt($"it holds a '{header.Kind}'");
        }

        var payloadLength = body.Length - payloadStart;
        var tensors = new Dictionary<string, NamedTensor>(StringComparer.Ordinal);
        foreach (var entry in header.Tensors)
        {
            if (entry is null || string.IsNullOrEmpty(entry.Name))
            {
                throw Corrupt("its header lists a tensor without a name");
            }

            if (entry.DType != "float32" || Bytes(entry.Shape) is not { } length || entry.Length != length
                || entry.Offset < 0 || entry.Offset > payloadLength - entry.Length)
            {
                throw Corrupt($"tensor '{entry.Name}' has an invalid shape, type or extent");
            }

            var data = MemoryMarshal.Cast<byte, float>(body.Slice(payloadStart + (int)entry.Offset, (int)entry.Length)).ToArray();
            if (!tensors.TryAdd(entry.Name, new NamedTensor(entry.Name, entry.Shape, data)))
            {
                throw Corrupt($"tensor '{entry.Name}' appears twice");
            }
        }

        return (header, tensors);
    }

    /// <summary>Bytes of a float32 tensor of this shape, or null for a missing or negative shape or one too large to count.</summary>
    private static long? Bytes(long[]? shape)
    {
        if (shape is null || shape.Any(d => d < 0))
        {
            return null;
        }

        try
        {
            return checked(shape.Aggregate(1L, (a, b) => a * b) * sizeof(float));
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    /// <summary>A metadata value that must be present.</summary>
    public static string Required(this TensorFileHeader header, string key, string path) =>
        header.Metadata.TryGetValue(key, out var value)
            ? value
            : throw CoordinatorException.InvalidArgument($"{Name(header.Kind)} '{path}' lacks the '{key}' entry in its header.");

    /// <summary>
    /// What an error calls a file of <paramref name="kind"/>: users meet adapter files as the state files of
    /// save_state and load_state, and base-model files through <c>Trainer:BaseModelPath</c>.
    /// </summary>
    private static string Name(string kind) => kind == BaseModelKind ? "Base-model file" : "State file";

    /// <summary>A short hex fingerprint of some text.</summary>
    public static string Fingerprint(string text) => Convert.ToHexStringLower(XxHash64.Hash(Encoding.UTF8.GetBytes(text)));
}
