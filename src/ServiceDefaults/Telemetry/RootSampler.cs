using System.Diagnostics;
using Coordinator.Contracts.Events;
using Coordinator.Contracts.Models;
using Coordinator.Contracts.Telemetry;
using OpenTelemetry.Trace;

namespace Coordinator.ServiceDefaults.Telemetry;

/// <summary>
/// Decides which traces begin: those of the Coordinator's own work (the client's operations, and calls to the
/// Coordinator's grains), not those Orleans' runtime begins by itself (membership, directory, dashboard polling, grain
/// timers) nor the event shipping's calls to the recorders. An idle silo otherwise sends dozens of runtime traces a
/// second, burying the calls an operator looks for. A span inside a trace follows its parent's decision (see
/// <see cref="ParentBasedSampler"/>); <c>Telemetry:TraceRuntime</c> traces everything.
/// </summary>
internal sealed class RootSampler : Sampler
{
    // Orleans names a call's span "{interface}/{method}".
    private static readonly HashSet<string> Traced = [.. typeof(IModelGrain).Assembly.GetTypes()
        .Where(t => t.IsInterface && typeof(IGrain).IsAssignableFrom(t) && t != typeof(IEventRecorderGrain))
        .Select(t => t.Name)];

    private static readonly SamplingResult Record = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        var name = samplingParameters.Name;
        if (name.StartsWith(CoordinatorTelemetry.SourceName, StringComparison.OrdinalIgnoreCase))
        {
            return Record;
        }

        var slash = name.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && Traced.Contains(name[..slash]) ? Record : Drop;
    }
}
