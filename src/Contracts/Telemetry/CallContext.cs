namespace Coordinator.Contracts.Telemetry;

/// <summary>The request context of the grain call being handled, as an incoming grain call filter sees it.</summary>
public static class CallContext
{
    /// <summary>
    /// Returns the entry <paramref name="key"/> of the call being handled (null when absent) and removes it from what the
    /// call's answer is built from. Orleans answers a call with the request context the call arrived with, so an entry
    /// only the receiver needs (a stamp, a clock) would otherwise travel back to its sender for nothing, doubling its
    /// cost. Call it from an incoming filter before the handler runs: until then the imported entries are one dictionary
    /// of this call's own, shared by the answer and the filters, and nothing else reads it. (<see cref="RequestContext.Remove"/>
    /// would replace the dictionary in this filter's execution context only, leaving the answer's untouched.)
    /// </summary>
    public static object? Take(string key)
    {
        if (RequestContext.Entries is Dictionary<string, object> imported)
        {
            return imported.Remove(key, out var value) ? value : null;
        }

        // Another Orleans may hand out a copy: then the entry is at least kept from this call's own outgoing calls.
        var entry = RequestContext.Get(key);
        if (entry is not null)
        {
            RequestContext.Remove(key);
        }

        return entry;
    }
}
