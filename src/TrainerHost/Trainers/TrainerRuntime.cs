using Coordinator.Contracts.Errors;
using Coordinator.TrainerHost.Configuration;
using Coordinator.Training.Engine;
using Microsoft.Extensions.Hosting;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>
/// The trainer host's one training engine and identity, shared by its trainer grain and its registration. Started
/// before the silo joins the cluster: loading the torch natives holds the process's dynamic loader lock for most of a
/// second, and every thread that loads a library or resolves a native function meanwhile waits on it (.NET resolves
/// each P/Invoke on its first call). Loaded while the silo took over its share of the grain directory, that stalled the
/// silo's thread pool for up to a second, and every call to it.
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
