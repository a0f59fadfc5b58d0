using Coordinator.Contracts.Events;

namespace Coordinator.Events.Emitting;

/// <summary>
/// The rule for progress events, written once for every emitter of them: a transfer's <see cref="TransferProgressed"/>
/// is kept at most once every <see cref="Period"/>, always keeping its first and its last (the one that reaches its
/// <see cref="TransferProgressed.TotalBytes"/>); a transfer's <see cref="TransferCompleted"/> carries the bytes moved in the
/// end whatever was dropped. Progress without a transfer id is kept (there is nothing to tell its transfers apart by).
/// Not thread-safe: the emitter calls it under its stamping lock.
/// </summary>
internal sealed class ProgressThrottle
{
    /// <summary>The shortest time between two kept progress events of one transfer.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    // Transfers that never complete (their node gave up without saying so) must not grow this without end: past the bound,
    // those quiet for a period are forgotten, and the worst that costs is one more progress event kept for each.
    private const int Bound = 1024;

    private readonly Dictionary<string, DateTimeOffset> _lastKept = new(StringComparer.Ordinal);

    /// <summary>Progress events dropped.</summary>
    public long Dropped { get; private set; }

    /// <summary>Whether to keep <paramref name="body"/>, emitted at <paramref name="now"/> about <paramref name="tags"/>.</summary>
    public bool Keep(RunEventBody body, EventTags tags, DateTimeOffset now)
    {
        if (tags.TransferId is not { } transfer)
        {
            return true;
        }

        switch (body)
        {
            case TransferProgressed progress:
                if (_lastKept.TryGetValue(transfer, out var last) && now - last < Period && !(progress.Bytes >= progress.TotalBytes))
                {
                    Dropped++;
                    return false;
                }

                if (_lastKept.Count >= Bound && !_lastKept.ContainsKey(transfer))
                {
                    foreach (var quiet in _lastKept.Where(t => now - t.Value >= Period).Select(t => t.Key).ToList())
                    {
                        _lastKept.Remove(quiet);
                    }
                }

                _lastKept[transfer] = now;
                return true;
            case TransferStarted or TransferCompleted:
                _lastKept.Remove(transfer);
                return true;
            default:
                return true;
        }
    }
}
