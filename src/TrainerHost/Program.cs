using Coordinator.TrainerHost.Cli;

return await TrainerCommandLine.InvokeAsync(args, Console.Out, Console.Error);
