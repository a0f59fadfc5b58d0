using System.Diagnostics;

namespace Coordinator.Contracts.Telemetry;

/// <summary>Names of the Coordinator's activity source, meter and correlation attributes.</summary>
public static class CoordinatorTelemetry
{
    /// <summary>Name of the ActivitySource and Meter of Coordinator's own operations.</summary>
    public const string SourceName = "Coordinator";

    /// <summary>Orleans' activity sources that carry grain-call spans.</summary>
    public static readonly IReadOnlyList<string> OrleansSourceNames =
        ["Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    /// <summary>The activity source for business operations (client facade, trainers).</summary>
    public static readonly ActivitySource ActivitySource = new(SourceName);

    /// <summary>Correlation attribute: session id.</summary>
    public const string SessionId = "coordinator.session_id";

    /// <summary>Correlation attribute: model (LoRA adapter) id.</summary>
    public const string ModelId = "coordinator.model_id";

    /// <summary>Correlation attribute: replica id.</summary>
    public const string ReplicaId = "coordinator.replica_id";

    /// <summary>Correlation attribute: base model name.</summary>
    public const string BaseModel = "coordinator.base_model";

    /// <summary>Correlation attribute: node (silo or trainer) id.</summary>
    public const string NodeId = "coordinator.node_id";

    /// <summary>Correlation attribute: run id.</summary>
    public const string RunId = "coordinator.run_id";
}
