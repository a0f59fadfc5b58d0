using Coordinator.Contracts.Errors;
using Coordinator.TrainerHost.Configuration;
using Coordinator.Training.Engine;

namespace Coordinator.TrainerHost.Trainers;

/// <summary>The trainer host's one training engine and identity, shared by its trainer grain and its registration.</summary>
internal sealed class TrainerRuntime(TrainerSettings settings) : IDisposable
{
    private TrainingEngine? _engine;

    public TrainerOptions Options => settings.Trainer;

    public string ReplicaId => settings.Trainer.ReplicaId;

    /// <summary>Operations waiting for the device; 0 before the engine has started.</summary>
    public int QueueDepth => _engine?.QueueDepth ?? 0;

    /// <summary>The engine; a call before the host finished starting fails with InvalidState.</summary>
    public TrainingEngine Engine => _engine ?? throw CoordinatorException.InvalidState($"Trainer '{ReplicaId}' is still starting.");

    public async Task StartAsync()
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

    public void Dispose() => _engine?.Dispose();
}
