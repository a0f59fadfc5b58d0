using Coordinator.Contracts.Events;
using Microsoft.Extensions.Logging;

namespace Coordinator.Events.Emitting;

/// <summary>
/// Keeps the node's warning, error and critical log lines with the run's facts (<see cref="LogRecorded"/>), so a
/// timeline shows them beside what happened around them, with the trace of the activity that logged. At most
/// <see cref="PerSecond"/> lines a second are kept (a log storm must not drown the facts); the events pipeline's own
/// lines are not recorded (they could feed themselves). Lines are kept from <see cref="Start"/> on: before the host has
/// started, recording a line could need the very services whose construction is logging it.
/// </summary>
public sealed class LogRecorder(Func<IRunEvents> events, TimeProvider time) : ILoggerProvider
{
    /// <summary>The most log lines recorded in one second.</summary>
    public const int PerSecond = 50;

    private const int MaxExceptionChars = 4096;
    private readonly Lazy<IRunEvents> _events = new(events);
    private readonly Lock _lock = new();
    private long _second;
    private int _recorded;
    private volatile bool _started;

    /// <summary>Keeps log lines from now on.</summary>
    public void Start() => _started = true;

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private bool Admit()
    {
        var second = time.GetUtcNow().ToUnixTimeSeconds();
        lock (_lock)
        {
            if (second != _second)
            {
                (_second, _recorded) = (second, 0);
            }

            return ++_recorded <= PerSecond;
        }
    }

    private sealed class Recorder(LogRecorder owner, string category) : ILogger
    {
        private readonly bool _own = category.StartsWith("Coordinator.Events.", StringComparison.Ordinal);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => owner._started && !_own && logLevel >= LogLevel.Warning && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            if (!IsEnabled(logLevel) || !owner.Admit())
            {
                return;
            }

            var severity = logLevel switch
            {
                LogLevel.Warning => LogSeverity.Warning,
                LogLevel.Error => LogSeverity.Error,
                _ => LogSeverity.Critical,
            };
            var text = exception?.ToString();
            owner._events.Value.Emit(new LogRecorded(severity, category, formatter(state, exception), text is { Length: > MaxExceptionChars } ? text[..MaxExceptionChars] : text));
        }
    }
}
