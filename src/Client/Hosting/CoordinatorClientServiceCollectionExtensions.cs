using Coordinator.Client;

// Placed in the DI namespace so callers find it next to AddOrleansClient-style registrations.
#pragma warning disable IDE0130
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>Registers <see cref="CoordinatorClient"/>.</summary>
public static class CoordinatorClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="CoordinatorClient"/> over the process's <see cref="IGrainFactory"/>. Configure the connection
    /// with <c>UseOrleansClient</c> (same ClusterId/ServiceId and clustering as the silos).
    /// </summary>
    public static IServiceCollection AddCoordinatorClient(this IServiceCollection services, CoordinatorClientOptions? options = null)
    {
        services.AddSingleton(sp => new CoordinatorClient(sp.GetRequiredService<IGrainFactory>(), options));
        return services;
    }
}
