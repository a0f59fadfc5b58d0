using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Training;

namespace Coordinator.Client;

/// <summary>
/// Submits a model's operations ahead of their results. Each group (say forward_backward then optim_step: one training
/// step) is submitted in one call while up to <see cref="Depth"/> earlier groups are still unfinished, so the trainer
/// always has the next step queued and the cluster's round trips overlap with compute instead of adding to it. Results
/// come back in submission order; the numbers are the same as waiting for each operation, since the model runs its
/// operations one at a time in submission order either way.
/// </summary>
/// <example>
/// <code>
/// var pipeline = new OperationPipeline(coordinator, modelId, depth: 2);
/// foreach (var batch in batches)
/// {
///     var done = await pipeline.SubmitAsync([new ForwardBackwardOperation(batch), new OptimStepOperation(adam)]);
///     if (done is not null) Console.WriteLine(done[0].Forward!.Loss); // the step submitted `depth` steps earlier
/// }
/// foreach (var done in await pipeline.DrainAsync()) Console.WriteLine(done[0].Forward!.Loss);
/// </code>
/// </example>
public sealed class OperationPipeline
{
    private readonly CoordinatorClient _client;
    private readonly Queue<IReadOnlyList<OperationTicket>> _unfinished = new();

    /// <summary>Creates a pipeline for one model.</summary>
    /// <param name="client">The coordinator client.</param>
    /// <param name="modelId">The model whose operations it submits.</param>
    /// <param name="depth">Groups left unfinished before a submission waits for the oldest; 1 or more (2 keeps a trainer busy).</param>
    public OperationPipeline(CoordinatorClient client, string modelId, int depth = 2)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        ModelId = Require.Id(modelId, nameof(modelId));
        Depth = depth >= 1 ? depth : throw CoordinatorException.InvalidArgument($"depth must be at least 1 (got {depth}).");
    }

    /// <summary>The model.</summary>
    public string ModelId { get; }

    /// <summary>Groups left unfinished before a submission waits for the oldest.</summary>
    public int Depth { get; }

    /// <summary>
    /// Submits a group of operations in one call. If more than <see cref="Depth"/> groups are then unfinished, waits for
    /// the oldest and returns its outputs (a failed operation throws its <see cref="CoordinatorException"/>); otherwise
    /// returns null.
    /// </summary>
    public async Task<IReadOnlyList<OperationOutput>?> SubmitAsync(IReadOnlyList<TrainingOperation> operations, CancellationToken cancellationToken = default)
    {
        _unfinished.Enqueue(await _client.SubmitAsync(ModelId, operations).ConfigureAwait(false));
        return _unfinished.Count > Depth ? await WaitOldestAsync(cancellationToken).ConfigureAwait(false) : null;
    }

    /// <summary>Waits for every unfinished group and returns their outputs in submission order.</summary>
    public async Task<IReadOnlyList<IReadOnlyList<OperationOutput>>> DrainAsync(CancellationToken cancellationToken = default)
    {
        var outputs = new List<IReadOnlyList<OperationOutput>>(_unfinished.Count);
        while (_unfinished.Count > 0)
        {
            outputs.Add(await WaitOldestAsync(cancellationToken).ConfigureAwait(false));
        }

        return outputs;
    }

    private async Task<IReadOnlyList<OperationOutput>> WaitOldestAsync(CancellationToken cancellationToken)
    {
        var results = await _client.WaitAsync(_unfinished.Peek(), null, cancellationToken).ConfigureAwait(false);
        _unfinished.Dequeue();
        return [.. results.Select(r => r.GetOutputOrThrow())];
    }
}
