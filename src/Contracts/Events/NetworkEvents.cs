namespace Coordinator.Contracts.Events;

/// <summary>A connection's state as seen by this node.</summary>
public enum ConnectionState
{
    /// <summary>Connected.</summary>
    Connected = 1,
    /// <summary>Disconnected (closed or lost).</summary>
    Disconnected = 2,
}

/// <summary>A connection to a peer changed (p2p, data-parallel runs).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:network.connection_changed")]
[Id(7119)]
public sealed record ConnectionChanged(
    [property: Id(0)] string Peer,
    [property: Id(1)] ConnectionState State,
    [property: Id(2)] string? Reason) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "network.connection_changed";
}

/// <summary>This node's gossip neighbours changed.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:network.gossip_neighbours_changed")]
[Id(7120)]
public sealed record GossipNeighboursChanged([property: Id(0)] IReadOnlyList<string> Peers) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "network.gossip_neighbours_changed";
}

/// <summary>The measured round trip to a peer changed.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:network.peer_latency_changed")]
[Id(7121)]
public sealed record PeerLatencyChanged(
    [property: Id(0)] string Peer,
    [property: Id(1)] TimeSpan RoundTrip) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "network.peer_latency_changed";
}

/// <summary>A blob became available on this node (tag: blob hash).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:network.blob_added")]
[Id(7122)]
public sealed record BlobAdded([property: Id(0)] long Bytes) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "network.blob_added";
}

/// <summary>What a transfer carries.</summary>
public enum TransferKind
{
    /// <summary>A blob announced by gossip (results of a data-parallel step).</summary>
    Blob = 1,
    /// <summary>Training data for assigned batches.</summary>
    BatchData = 2,
    /// <summary>A checkpoint (warm-up download, cool-down upload).</summary>
    Checkpoint = 3,
    /// <summary>Parameters sent to a peer warming up.</summary>
    Parameters = 4,
}

/// <summary>Which way a transfer goes.</summary>
public enum TransferDirection
{
    /// <summary>This node receives.</summary>
    Download = 1,
    /// <summary>This node sends.</summary>
    Upload = 2,
}

/// <summary>
/// A transfer started (tags: transfer id, and blob hash, batch id or model for what it carries). Covers blob and
/// batch-data downloads, checkpoint downloads and uploads, and parameters served to a peer.
/// </summary>
[GenerateSerializer, Immutable]
[Alias("ev:transfer.started")]
[Id(7123)]
public sealed record TransferStarted(
    [property: Id(0)] TransferKind Kind,
    [property: Id(1)] TransferDirection Direction,
    [property: Id(2)] string? Peer,
    [property: Id(3)] long? TotalBytes) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "transfer.started";
}

/// <summary>A transfer's progress (tag: transfer id); at most one every few seconds per transfer.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:transfer.progressed")]
[Id(7124)]
public sealed record TransferProgressed(
    [property: Id(0)] long Bytes,
    [property: Id(1)] long? TotalBytes) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "transfer.progressed";
}

/// <summary>A transfer ended (tag: transfer id): succeeded, or failed with <paramref name="Error"/>.</summary>
[GenerateSerializer, Immutable]
[Alias("ev:transfer.completed")]
[Id(7125)]
public sealed record TransferCompleted(
    [property: Id(0)] long Bytes,
    [property: Id(1)] bool Succeeded,
    [property: Id(2)] string? Error) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "transfer.completed";
}

/// <summary>This node sent a gossip message (tag: blob hash when it announces one).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:network.gossip_sent")]
[Id(7126)]
public sealed record GossipSent(
    [property: Id(0)] string MessageKind,
    [property: Id(1)] int Peers) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "network.gossip_sent";
}

/// <summary>This node received a gossip message from a peer (tag: blob hash when it announces one).</summary>
[GenerateSerializer, Immutable]
[Alias("ev:network.gossip_received")]
[Id(7127)]
public sealed record GossipReceived(
    [property: Id(0)] string MessageKind,
    [property: Id(1)] string Peer) : RunEventBody
{
    /// <inheritdoc />
    public override string Type => "network.gossip_received";
}
