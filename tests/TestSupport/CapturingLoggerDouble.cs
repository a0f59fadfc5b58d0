using Microsoft.Extensions.Logging;

namespace Coordinator.TestSupport;

/// <summary>A logger provider that keeps each record's category and state attributes (test double, for unit tests).</summary>
public sealed class CapturingLoggerDouble : ILoggerProvider
{
    private readonly Lock _lock = new();
    private readonly List<(string Category, Dictionary<string, object?> Attributes)> _records = [];

    /// <summary>What was logged with structured state, in order.</summary>
    public IReadOnlyList<(string Category, Dictionary<string, object?> Attributes)> Records
    {
        get
        {
            lock (_lock)
            {
                return [.. _records];
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerDouble owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (state is IEnumerable<KeyValuePair<string, object?>> attributes)
            {
                lock (owner._lock)
                {
                    owner._records.Add((category, attributes.ToDictionary(a => a.Key, a => a.Value)));
                }
            }
        }
    }
}
