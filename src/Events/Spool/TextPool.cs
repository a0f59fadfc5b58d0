using System.Text;

namespace Coordinator.Events.Spool;

/// <summary>
/// The ids that repeat from event to event (run, node, session, model, replica) decoded to one string each instead of
/// one per event: a run read into memory (the timeline) holds a million events, and these are a third of their size.
/// Holds at most <see cref="Capacity"/> strings; past that, a new one is decoded without being kept. One reader's.
/// </summary>
internal sealed class TextPool
{
    /// <summary>The most strings kept.</summary>
    public const int Capacity = 4096;

    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public TextPool() => _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The string <paramref name="utf8"/> holds, the same instance each time while it is kept.</summary>
    public string Get(ReadOnlySpan<byte> utf8)
    {
        Span<char> chars = utf8.Length <= 256 ? stackalloc char[utf8.Length] : new char[utf8.Length];
        var text = chars[..Encoding.UTF8.GetChars(utf8, chars)];
        if (_lookup.TryGetValue(text, out var held))
        {
            return held;
        }

        var decoded = new string(text);
        if (_strings.Count < Capacity)
        {
            _strings[decoded] = decoded;
        }

        return decoded;
    }
}
