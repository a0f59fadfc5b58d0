using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Coordinator.TrainerHost.Trainers;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.TrainerHost.Tests;

/// <summary>The trainer starts each adapter's operations in the order their model numbered them, each at most once.</summary>
public sealed class OperationSequencerTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly List<long> _started = [];

    private OperationSequencer Sequencer { get; }

    public OperationSequencerTests() => Sequencer = new OperationSequencer(_time);

    private Task<OperationOutput> Run(long sequence, long previous, string adapter = "a", Func<Task<OperationOutput>>? work = null) =>
        Sequencer.RunAsync(adapter, new OperationOrder(sequence, previous), () =>
        {
            _started.Add(sequence);
            return work?.Invoke() ?? Task.FromResult(Output(sequence));
        });

    private static OperationOutput Output(long sequence) => new(OptimStep: new OptimStepResult(sequence, 0, new StepTiming(default, default, default)));

    [Fact]
    public async Task Operations_that_arrive_out_of_order_start_in_sequence_order()
    {
        var third = Run(7, 5);
        var second = Run(5, 4);
        Assert.Empty(_started);

        await Run(4, 0);
        await Task.WhenAll(second, third);

        Assert.Equal([4L, 5, 7], _started);
    }

    [Fact]
    public async Task An_operation_sent_again_is_not_run_again_and_gets_the_first_runs_outcome()
    {
        var first = await Run(1, 0);
        var failing = Run(2, 1, work: () => Task.FromException<OperationOutput>(CoordinatorException.InvalidArgument("bad batch")));
        await Assert.ThrowsAsync<CoordinatorException>(() => failing);

        // A model grain that failed over re-sends what it had not seen finish; the order it gives may differ.
        var again = await Run(1, 0);
        var refusedAgain = await Assert.ThrowsAsync<CoordinatorException>(() => Run(2, 0));

        Assert.Equal([1L, 2], _started);
        Assert.Same(first, again);
        Assert.Equal(CoordinatorErrorCode.InvalidArgument, refusedAgain.Code);
    }

    [Fact]
    public async Task An_operation_sent_again_while_it_runs_waits_for_that_run()
    {
        var gate = new TaskCompletionSource<OperationOutput>();
        var running = Run(3, 0, work: () => gate.Task);
        var again = Run(3, 0);
        Assert.False(again.IsCompleted);

        gate.SetResult(Output(3));

        Assert.Equal(3, (await again).OptimStep!.Step);
        Assert.Equal([3L], _started);
        await running;
    }

    [Fact]
    public async Task Progress_names_the_last_started_operation_and_the_outcomes_of_finished_ones()
    {
        await Run(1, 0);
        var gate = new TaskCompletionSource<OperationOutput>();
        var running = Run(2, 1, work: () => gate.Task);

        var (lastStarted, finished) = Sequencer.Progress("a", [1, 2, 3]);

        Assert.Equal(2, lastStarted);
        Assert.Equal([1L], finished.Select(f => f.Sequence));
        gate.SetResult(Output(2));
        await running;
    }

    [Fact]
    public async Task An_operation_whose_predecessor_never_arrives_fails_after_the_gap_timeout_without_starting()
    {
        await Run(1, 0);
        var orphan = Run(3, 2);

        _time.Advance(OperationSequencer.GapTimeout);

        var failed = await Assert.ThrowsAsync<CoordinatorException>(() => orphan);
        Assert.Equal(CoordinatorErrorCode.ReplicaUnavailable, failed.Code);
        Assert.Equal([1L], _started);
    }

    [Fact]
    public async Task A_chain_that_forks_from_an_older_operation_is_refused_and_adapters_are_independent()
    {
        await Run(1, 0);
        await Run(2, 1);
        var fork = await Assert.ThrowsAsync<CoordinatorException>(() => Run(3, 1));
        await Run(1, 0, adapter: "b");

        Assert.Equal(CoordinatorErrorCode.Conflict, fork.Code);
        Assert.Equal([1L, 2, 1], _started);
    }
}
