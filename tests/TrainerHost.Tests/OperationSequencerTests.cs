using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Trainers;
using Coordinator.Contracts.Training;
using Coordinator.TrainerHost.Trainers;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.TrainerHost.Tests;

/// <summary>The trainer starts each adapter's operations in the order their model grain numbered them.</summary>
public sealed class OperationSequencerTests
{
    private static readonly OperationOutput Output = new();

    private readonly FakeTimeProvider _time = new();
    private readonly List<long> _started = [];

    private OperationSequencer Sequencer { get; }

    public OperationSequencerTests() => Sequencer = new OperationSequencer(_time);

    private Task<OperationOutput> Run(string stream, long sequence, string adapter = "a") =>
        Sequencer.RunAsync(adapter, new OperationOrder(stream, sequence), () =>
        {
            _started.Add(sequence);
            return Task.FromResult(Output);
        });

    [Fact]
    public async Task Operations_that_arrive_out_of_order_start_in_sequence_order()
    {
        var third = Run("s", 3);
        var second = Run("s", 2);
        Assert.Empty(_started);

        await Run("s", 1);
        await Task.WhenAll(second, third);

        Assert.Equal([1L, 2, 3], _started);
    }

    [Fact]
    public async Task A_repeated_sequence_is_refused_and_does_not_start()
    {
        await Run("s", 1);

        var repeat = await Assert.ThrowsAsync<CoordinatorException>(() => Run("s", 1));

        Assert.Equal(CoordinatorErrorCode.Conflict, repeat.Code);
        Assert.Equal([1L], _started);
    }

    [Fact]
    public async Task An_operation_whose_predecessor_never_arrives_fails_after_the_gap_timeout_without_starting()
    {
        await Run("s", 1);
        var orphan = Run("s", 3);

        _time.Advance(OperationSequencer.GapTimeout);

        var failed = await Assert.ThrowsAsync<CoordinatorException>(() => orphan);
        Assert.Equal(CoordinatorErrorCode.ReplicaUnavailable, failed.Code);
        Assert.Equal([1L], _started);
    }

    [Fact]
    public async Task A_new_stream_supersedes_the_old_one_and_adapters_are_independent()
    {
        await Run("old", 1);
        await Run("old", 2);
        await Run("new", 1);
        await Run("new", 2);
        await Run("other-adapter-stream", 1, adapter: "b");

        Assert.Equal([1L, 2, 1, 2, 1], _started);
        Assert.Equal(CoordinatorErrorCode.Conflict, (await Assert.ThrowsAsync<CoordinatorException>(() => Run("new", 2))).Code);
    }
}
