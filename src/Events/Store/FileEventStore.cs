using System.Collections.Concurrent;
using Coordinator.Contracts.Events;
using Coordinator.Events.Spool;
using Orleans.Serialization;

namespace Coordinator.Events.Store;

/// <summary>
/// The embedded default's event store: <c>{directory}/{run}/{node}/</c>, each node's events in the spool's segment
/// format (length framed, checksummed, a torn tail cut on opening), each append's events as compressed blocks
/// (<see cref="EventSpool.AppendBlock"/>). One process writes it; opened read-only (the
/// timeline verb beside a running silo) it changes nothing on disk.
/// </summary>
public sealed class FileEventStore : IEventStore, IDisposable
{
    private readonly ConcurrentDictionary<(string Run, string Node), EventSpool> _spools = new();
    private readonly string _directory;
    private readonly Serializer _serializer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _retention;
    private readonly bool _readOnly;

    /// <summary>A store in <paramref name="directory"/> keeping runs for <paramref name="retention"/> after their last event.</summary>
    public FileEventStore(string directory, Serializer serializer, TimeProvider time, TimeSpan retention, bool readOnly = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(serializer);
        ArgumentNullException.ThrowIfNull(time);
        (_directory, _serializer, _time, _retention, _readOnly) = (Path.GetFullPath(directory), serializer, time, retention, readOnly);
    }

    /// <summary>The store's directory.</summary>
    public string Directory => _directory;

    /// <inheritdoc />
    public async Task<long> HighWaterAsync(string runId, string nodeId) => _readOnly
        ? (await ReadAsync(runId, nodeId)) is { Count: > 0 } held ? held[^1].Stamp.Sequence : 0
        : Spool(runId, nodeId).LastSequence;

    /// <inheritdoc />
    public Task<long> AppendAsync(string runId, string nodeId, IReadOnlyList<RunEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var spool = Spool(runId, nodeId);
        lock (spool)
        {
            spool.AppendBlock(IEventStore.Above(events, spool.LastSequence));
            spool.Flush();
            return Task.FromResult(spool.LastSequence);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> RunsAsync() => Task.FromResult<IReadOnlyList<string>>(
        System.IO.Directory.Exists(_directory)
            ? [.. new DirectoryInfo(_directory).EnumerateDirectories().OrderByDescending(LastWrite).Select(d => d.Name)]
            : []);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> NodesAsync(string runId)
    {
        var run = Path.Combine(_directory, Checked(runId, "run"));
        return Task.FromResult<IReadOnlyList<string>>(
            System.IO.Directory.Exists(run) ? [.. System.IO.Directory.EnumerateDirectories(run).Select(Path.GetFileName).Order(StringComparer.Ordinal)!] : []);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<RunEvent>> ReadAsync(string runId, string nodeId, long after = 0, int max = int.MaxValue)
    {
        var directory = NodeDirectory(runId, nodeId);
        return Task.FromResult(System.IO.Directory.Exists(directory) ? Spool(runId, nodeId).ReadAfter(after, max) : []);
    }

    /// <inheritdoc />
    public Task<int> PruneAsync()
    {
        if (_readOnly || !System.IO.Directory.Exists(_directory))
        {
            return Task.FromResult(0);
        }

        var cutoff = _time.GetUtcNow() - _retention;
        var pruned = 0;
        foreach (var run in new DirectoryInfo(_directory).EnumerateDirectories())
        {
            if (LastWrite(run) < cutoff)
            {
                foreach (var key in _spools.Keys.Where(k => k.Run == run.Name))
                {
                    if (_spools.TryRemove(key, out var spool))
                    {
                        spool.Dispose();
                    }
                }

                run.Delete(recursive: true);
                pruned++;
            }
        }

        return Task.FromResult(pruned);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var spool in _spools.Values)
        {
            spool.Dispose();
        }
    }

    private EventSpool Spool(string runId, string nodeId) => _readOnly
        ? EventSpool.OpenReadOnly(NodeDirectory(runId, nodeId), _serializer)
        : _spools.GetOrAdd((runId, nodeId), key => EventSpool.Open(NodeDirectory(key.Run, key.Node), _serializer, gapless: false));

    private string NodeDirectory(string runId, string nodeId) => Path.Combine(_directory, Checked(runId, "run"), Checked(nodeId, "node"));

    /// <summary>Run and node ids become directory names: nothing that could leave the store's directory.</summary>
    private static string Checked(string id, string what) =>
        !string.IsNullOrEmpty(id) && id.IndexOfAny(['/', '\\', '\0']) < 0 && id is not "." and not ".."
            ? id
            : throw new ArgumentException($"The {what} id '{id}' cannot name a directory in the event store.", nameof(id));

    private static DateTimeOffset LastWrite(DirectoryInfo run) =>
        run.EnumerateFiles("*", SearchOption.AllDirectories).Select(f => new DateTimeOffset(f.LastWriteTimeUtc, TimeSpan.Zero)).DefaultIfEmpty(new DateTimeOffset(run.LastWriteTimeUtc, TimeSpan.Zero)).Max();
}
