using Coordinator.Contracts.Errors;
using Coordinator.TrainerHost.Configuration;
using Coordinator.Training.Engine;
using Microsoft.Extensions.Hosting;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>
/// The trainer host's one training engine and identity, shared by its trainer grain and its registration. Started as the
/// host's first service, before its silo joins the cluster: loading the torch natives holds the process's dynamic loader
/// lock for most of a second, and every thread that resolves a native call meanwhile waits on it. Loaded while the silo
/// took over its share of the grain directory, that stalled the silo's thread pool and the calls of the whole cluster.
/// </summary>
internal sealed class TrainerRuntime(TrainerSettings settings) : IHostedService, IDisposable
{
    private TrainingEngine? _engine;

    public TrainerOptions Options => settings.Trainer;

    public string ReplicaId => settings.Trainer.ReplicaId;

    /// <summary>Operations waiting for the device; 0 before the engine has started.</summary>
    public int QueueDepth => _engine?.QueueDepth ?? 0;

    /// <summary>The engine; a call before the host finished starting fails with InvalidState.</summary>
    public TrainingEngine Engine => _engine ?? throw CoordinatorException.InvalidState($"Trainer '{ReplicaId}' is still starting.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = settings.Trainer;
        _engine = await TrainingEngine.StartAsync(new TrainingEngineOptions
        {
            Spec = options.Spec,
            BaseModelPath = options.BaseModelPath,
            Device = options.Device,
            CpuThreads = options.CpuThreads,
            StateDirectory = options.StateDirectory,
        });
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _engine?.Dispose();
}
