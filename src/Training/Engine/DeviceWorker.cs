using System.Collections.Concurrent;
using Coordinator.Contracts.Training;

namespace Coordinator.Training.Engine;

/// <summary>
/// Runs compute for one device on one dedicated thread, in arrival order, never on the .NET thread pool (a long
/// step there would starve grain and network work). Each item's result carries its enqueue, start and end times.
/// </summary>
internal sealed class DeviceWorker : IDisposable
{
    private readonly BlockingCollection<Action> _queue = [];
    private readonly Thread _thread;
    private readonly TimeProvider _time;

    public DeviceWorker(string name, TimeProvider time, Action? initialize = null)
    {
        _time = time;
        _thread = new Thread(() =>
        {
            initialize?.Invoke();
            foreach (var work in _queue.GetConsumingEnumerable())
            {
                work();
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        _thread.Start();
    }

    /// <summary>Items waiting to start; the one running is not counted.</summary>
    public int QueueLength => _queue.Count;

    public Task<(T Result, StepTiming Timing)> RunAsync<T>(Func<T> work)
    {
        var completion = new TaskCompletionSource<(T, StepTiming)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var enqueuedAt = _time.GetUtcNow();
        _queue.Add(() =>
        {
            var startedAt = _time.GetUtcNow();
            try
            {
                var result = work();
                completion.SetResult((result, new StepTiming(enqueuedAt, startedAt, _time.GetUtcNow())));
            }
            catch (Exception ex)
            {
                completion.SetException(ex);
            }
        });
        return completion.Task;
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        _queue.Dispose();
    }
}
