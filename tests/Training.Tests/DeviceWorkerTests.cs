using Coordinator.Contracts.Training;
using Coordinator.Training.Engine;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Training.Tests;

/// <summary>
/// The device worker runs work on one dedicated, named, non-pool thread in arrival order, and stamps each item with
/// times from the clock it was given. Ordering is forced with barriers, never with sleeps, and no wall-clock
/// duration is asserted.
/// </summary>
public sealed class DeviceWorkerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static readonly DateTimeOffset Start = new(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public async Task Work_runs_in_arrival_order_on_one_dedicated_named_thread_that_is_not_a_pool_thread()
    {
        var initializedOn = -1;
        using var worker = new DeviceWorker(TrainingEngine.DeviceThreadName, TimeProvider.System, () => initializedOn = Environment.CurrentManagedThreadId);
        using var blockerStarted = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        var order = new List<int>(); // touched only on the worker thread until every item has finished

        var blocker = worker.RunAsync(() =>
        {
            blockerStarted.Set();
            return gate.Wait(Patience) ? Describe() : throw new TimeoutException("the gate was never opened");
        });
        Wait(blockerStarted);
        var items = Enumerable.Range(0, 200).Select(i => worker.RunAsync(() =>
        {
            order.Add(i);
            return Describe();
        })).ToList();
        var queuedWhileBlocked = worker.QueueLength;
        gate.Set();
        var threads = (await Task.WhenAll(items.Prepend(blocker))).Select(r => r.Result).ToList();

        Assert.Equal(200, queuedWhileBlocked); // waiting items; the running one is no longer queued
        Assert.Equal(Enumerable.Range(0, 200), order);
        var thread = Assert.Single(threads.Distinct());
        Assert.Equal((initializedOn, "coordinator-device", false, true), thread);
        Assert.NotEqual(Environment.CurrentManagedThreadId, thread.Id);
        Assert.Equal(0, worker.QueueLength);
    }

    [Fact]
    public async Task Awaiting_code_continues_off_the_device_thread()
    {
        using var worker = new DeviceWorker("test-device", TimeProvider.System);

        var (device, _) = await worker.RunAsync(() => Environment.CurrentManagedThreadId);

        Assert.NotEqual(device, Environment.CurrentManagedThreadId);
        Assert.NotEqual("test-device", Thread.CurrentThread.Name);
    }

    [Fact]
    public async Task A_failing_item_faults_only_its_own_task_and_the_next_item_still_runs_on_the_same_thread()
    {
        using var worker = new DeviceWorker("test-device", TimeProvider.System);

        var before = worker.RunAsync(() => Environment.CurrentManagedThreadId);
        var failing = worker.RunAsync<int>(() => throw new InvalidOperationException("boom"));
        var after = worker.RunAsync(() => Environment.CurrentManagedThreadId);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        Assert.Equal("boom", error.Message);
        Assert.Equal((await before).Result, (await after).Result);
    }

    [Fact]
    public async Task Timings_are_read_from_the_injected_clock_at_enqueue_start_and_end()
    {
        var clock = new FakeTimeProvider(Start);
        using var worker = new DeviceWorker("test-device", clock);
        using var aStarted = new ManualResetEventSlim();
        using var aGate = new ManualResetEventSlim();
        using var bStarted = new ManualResetEventSlim();
        using var bGate = new ManualResetEventSlim();

        var a = worker.RunAsync(() =>
        {
            aStarted.Set();
            return aGate.Wait(Patience);
        });
        Wait(aStarted);
        clock.Advance(TimeSpan.FromSeconds(1));
        var b = worker.RunAsync(() =>
        {
            bStarted.Set();
            return bGate.Wait(Patience);
        });
        clock.Advance(TimeSpan.FromSeconds(2));
        aGate.Set();
        var (aOpened, aTiming) = await a; // b starts now, with the clock still at +3 s
        Wait(bStarted);
        clock.Advance(TimeSpan.FromSeconds(4));
        bGate.Set();
        var (bOpened, bTiming) = await b;

        Assert.True(aOpened && bOpened);
        Assert.Equal(new StepTiming(Start, Start, Start.AddSeconds(3)), aTiming);
        Assert.Equal(new StepTiming(Start.AddSeconds(1), Start.AddSeconds(3), Start.AddSeconds(7)), bTiming);
        Assert.Equal(TimeSpan.FromSeconds(2), bTiming.QueueTime);
        Assert.Equal(TimeSpan.FromSeconds(4), bTiming.ComputeTime);
    }

    [Fact]
    public async Task Dispose_runs_the_items_already_queued_and_then_ends_the_thread()
    {
        var worker = new DeviceWorker("test-device", TimeProvider.System);
        using var started = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        var blocker = worker.RunAsync(() =>
        {
            started.Set();
            return gate.Wait(Patience) ? Thread.CurrentThread : throw new TimeoutException("the gate was never opened");
        });
        Wait(started);
        var queued = Enumerable.Range(0, 3).Select(i => worker.RunAsync(() => i)).ToList();

        gate.Set();
        worker.Dispose(); // joins the thread

        Assert.All(queued, t => Assert.True(t.IsCompletedSuccessfully));
        Assert.Equal([0, 1, 2], queued.Select(t => t.Result.Result));
        Assert.False((await blocker).Result.IsAlive);
    }

    [Fact]
    public async Task The_engine_stamps_its_results_with_the_clock_it_was_started_with()
    {
        using var dir = new TempDirectory();
        var clock = new FakeTimeProvider(Start);
        using var engine = await TrainingEngine.StartAsync(
            new TrainingEngineOptions { Spec = TinyEngines.Spec, Device = "cpu", CpuThreads = 1, StateDirectory = dir.Path }, clock);
        await engine.CreateAdapterAsync("a", TinyEngines.Lora());
        var batch = TinyEngines.Task.Batch(new Random(1), 4);

        var first = await engine.ForwardBackwardAsync("a", batch);
        clock.Advance(TimeSpan.FromMinutes(5));
        var step = await engine.OptimStepAsync("a", TinyEngines.Adam);
        var saved = await engine.SaveStateAsync("a", "a.state", includeOptimizerState: true);

        Assert.Equal(new StepTiming(Start, Start, Start), first.Timing);
        var later = Start.AddMinutes(5);
        Assert.Equal(new StepTiming(later, later, later), step.Timing);
        Assert.Equal(new StepTiming(later, later, later), saved.Timing);
    }

    private static (int Id, string? Name, bool IsThreadPoolThread, bool IsBackground) Describe() =>
        (Environment.CurrentManagedThreadId, Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.IsBackground);

    /// <summary>Waits for a barrier the worker sets; the bound only turns a hang into a failure.</summary>
    private static void Wait(ManualResetEventSlim barrier) => Assert.True(barrier.Wait(Patience), "the worker never reached the barrier");
}
