using Coordinator.Silo.Cli;

return await SiloCommandLine.InvokeAsync(args, Console.Out, Console.Error, Console.In);
