using System.Collections.Concurrent;
using Coordinator.Client;
using Coordinator.Contracts.Errors;
using Coordinator.Contracts.Sessions;
using Coordinator.Contracts.Training;
using Coordinator.Grains.Storage;
using Orleans.Storage;

namespace Coordinator.Grains.Tests;

/// <summary>The storage backend failing under the grains: outcomes are neither lost nor repeated, and errors stay ours.</summary>
public sealed class StorageFailureTests : IAsyncLifetime
{
    private readonly FlakyStorageDouble _storage = new();
    private CoordinatorCluster _c = null!;

    public async Task InitializeAsync() => _c = await CoordinatorCluster.StartAsync(1, storage: _storage);

    public async Task DisposeAsync() => await _c.DisposeAsync();

    [Fact]
    public async Task An_outcome_whose_write_fails_is_held_until_storage_answers_then_reported_once()
    {
        var (modelId, _, script) = await _c.ModelOnNewReplicaAsync();
        await _c.Client.RunAsync(modelId, new ForwardBackwardOperation([new Datum([1, 2], [2, 3], [1f, 1f])]));
        script.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ticket = await _c.Client.SubmitAsync(modelId, new OptimStepOperation(new AdamParams(1e-3)));
        await script.Started.WaitAsync(TimeSpan.FromSeconds(30));

        // The trainer applies the step, and the write of its outcome fails.
        _storage.FailWritesOf = "model";
        script.Gate.SetResult();
        await _storage.Failed.WaitAsync(TimeSpan.FromSeconds(30));
        var during = await _c.Client.GetOperationAsync(modelId, ticket.OperationId);

        // Storage answers again; the model's retry (on its clock) writes the outcome, and only then is it reported.
        _storage.FailWritesOf = null;
        var wait = _c.Client.WaitAsync(ticket, TimeSpan.FromSeconds(30));
        while (await Task.WhenAny(wait, Task.Delay(20)) != wait)
        {
            _c.Time.Advance(TimeSpan.FromSeconds(1));
        }

        var after = await wait;
        Assert.Equal(OperationStatus.Running, during.Status);
        Assert.Equal(OperationStatus.Succeeded, after.Status);
        Assert.Equal(1, after.Output!.OptimStep!.Step);
        Assert.Equal(1, script.Log.Count(l => l.StartsWith("optim_step", StringComparison.Ordinal)));
        Assert.Equal(1, (await _c.Client.GetModelAsync(modelId)).StepCount);
    }

    [Fact]
    public async Task A_storage_failure_reaches_a_client_as_a_retryable_CoordinatorException_and_never_as_the_storage_type()
    {
        var token = TestData.Id("tok");
        var session = await _c.Client.OpenSessionAsync(token);
        _storage.FailWritesOf = "session";

        var direct = await Assert.ThrowsAsync<CoordinatorException>(() => _c.Grains.GetGrain<ISessionGrain>(session.SessionId).HeartbeatAsync(token));
        var patient = new CoordinatorClient(_c.Grains, new CoordinatorClientOptions { RetryTimeout = TimeSpan.FromMilliseconds(300) });
        var throughFacade = await Assert.ThrowsAsync<CoordinatorException>(() => patient.HeartbeatSessionAsync(session.SessionId, token));
        _storage.FailWritesOf = null;
        await patient.HeartbeatSessionAsync(session.SessionId, token);

        Assert.Equal(CoordinatorErrorCode.Unavailable, direct.Code);
        Assert.Contains(nameof(FlakyStorageException), direct.Message, StringComparison.Ordinal);
        Assert.Null(direct.InnerException);
        Assert.Equal(CoordinatorErrorCode.Unavailable, throughFacade.Code);
        Assert.True(throughFacade.IsRetryable);
    }
}

/// <summary>
/// Test double of grain storage: keeps states serialized in memory (as a real backend would, so the grain's copy and
/// the stored one are separate), checks etags, and fails the writes of one state name while told to.
/// </summary>
public sealed class FlakyStorageDouble : IGrainStorage
{
    private readonly JsonGrainStateSerializer _serializer = new();
    private readonly ConcurrentDictionary<string, (string ETag, BinaryData Data)> _states = new();

    private volatile string? _failWritesOf;

    /// <summary>The state name whose writes fail (for example "model"); null for none.</summary>
    public string? FailWritesOf
    {
        get => _failWritesOf;
        set => _failWritesOf = value;
    }

    /// <summary>Released once per write that failed.</summary>
    public SemaphoreSlim Failed { get; } = new(0);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_states.TryGetValue(Key(stateName, grainId), out var stored))
        {
            grainState.State = _serializer.Deserialize<T>(stored.Data)!;
            grainState.ETag = stored.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (FailWritesOf == stateName)
        {
            Failed.Release();
            throw new FlakyStorageException($"the test double refuses writes of '{stateName}'");
        }

        var key = Key(stateName, grainId);
        var etag = Guid.NewGuid().ToString("N");
        var data = _serializer.Serialize(grainState.State);
        if (!_states.TryGetValue(key, out var stored) ? grainState.ETag is not null : stored.ETag != grainState.ETag)
        {
            throw new InconsistentStateException($"etag {grainState.ETag} is not the stored one");
        }

        _states[key] = (etag, data);
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _states.TryRemove(Key(stateName, grainId), out _);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private static string Key(string stateName, GrainId grainId) => $"{stateName}/{grainId}";
}

/// <summary>A storage failure of a type only the server side knows about.</summary>
public sealed class FlakyStorageException(string message) : Exception(message);
