using Coordinator.Demo;

return await DemoCommand.InvokeAsync(args, Console.Out, Console.Error);
