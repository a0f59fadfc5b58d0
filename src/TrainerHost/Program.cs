// The trainer host joins the cluster as a trainer silo and runs TorchSharp training steps. That part is not built
// yet: this executable only says so, and exits non-zero so no script mistakes it for a working trainer.
await Console.Error.WriteLineAsync("Coordinator trainer host: training is not implemented in this version (see the trainer-host issue).");
return 2;
