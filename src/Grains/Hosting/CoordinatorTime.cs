namespace Coordinator.Grains.Hosting;

/// <summary>
/// Grains read the clock through a keyed <see cref="TimeProvider"/>, so tests can drive leases and heartbeats
/// with fake time without also faking the clock Orleans' own timers and message expiry run on.
/// </summary>
public static class CoordinatorTime
{
    /// <summary>The DI key of the grains' <see cref="TimeProvider"/>.</summary>
    public const string ServiceKey = "Coordinator";
}
