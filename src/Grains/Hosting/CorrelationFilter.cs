using System.Diagnostics;

namespace Coordinator.Grains.Hosting;

/// <summary>A grain that names the entities its calls are about (session, model, replica, base model).</summary>
public interface ICorrelatedGrain
{
    /// <summary>Correlation attributes (names from <c>CoordinatorTelemetry</c>) and their values; null values are left out.</summary>
    IEnumerable<KeyValuePair<string, string?>> Correlation { get; }
}

/// <summary>
/// Tags the span of every call on an <see cref="ICorrelatedGrain"/> with what that grain is about, after the call (so
/// a call that created the entity is tagged with it too). Runs inside Orleans' activity filter, whose server span is
/// <see cref="Activity.Current"/> here; without a listener (no OTLP endpoint) there is no span and nothing is done.
/// </summary>
internal sealed class CorrelationFilter : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        finally
        {
            if (Activity.Current is { } span && context.Grain is ICorrelatedGrain grain)
            {
                foreach (var (name, value) in grain.Correlation)
                {
                    if (value is not null)
                    {
                        span.SetTag(name, value);
                    }
                }
            }
        }
    }
}
