using Coordinator.Silo.Cli;

namespace Coordinator.Silo.Tests;

/// <summary>Runs the silo binary's command line in-process and captures what it prints.</summary>
internal static class SiloCli
{
    public static async Task<(int Exit, string Out, string Err)> RunWithInputAsync(string stdin, string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var input = new StringReader(stdin);
        var exit = await SiloCommandLine.InvokeAsync(args, stdout, stderr, input);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public static Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => RunWithInputAsync("", args);

    /// <summary>Runs the command line in-process, printing to <paramref name="stdout"/> as it goes (a verb that keeps running).</summary>
    public static async Task<(int Exit, string Out, string Err)> RunAsync(PrintedLines stdout, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        using var stderr = new StringWriter();
        using var input = new StringReader("");
        var exit = await SiloCommandLine.InvokeAsync(args, stdout, stderr, input);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}

/// <summary>What a verb printed so far, and a barrier for a test to wait until it printed some number of lines.</summary>
internal sealed class PrintedLines : StringWriter
{
    private readonly Lock _lock = new();
    private readonly List<(int Lines, TaskCompletionSource Reached)> _waiting = [];
    private int _lines;

    /// <summary>Completes once <paramref name="lines"/> lines were printed.</summary>
    public Task Reached(int lines)
    {
        lock (_lock)
        {
            if (_lines >= lines)
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((lines, reached));
            return reached.Task;
        }
    }

    public override void Write(char value)
    {
        base.Write(value);
        Count(value == '\n' ? 1 : 0);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        base.Write(buffer, index, count);
        Count(buffer.AsSpan(index, count).Count('\n'));
    }

    public override void Write(ReadOnlySpan<char> buffer)
    {
        base.Write(buffer);
        Count(buffer.Count('\n'));
    }

    public override void Write(string? value)
    {
        base.Write(value);
        Count(value.AsSpan().Count('\n'));
    }

    private void Count(int newLines)
    {
        if (newLines == 0)
        {
            return;
        }

        lock (_lock)
        {
            _lines += newLines;
            foreach (var waiting in _waiting.Where(w => w.Lines <= _lines).ToList())
            {
                waiting.Reached.SetResult();
                _waiting.Remove(waiting);
            }
        }
    }
}
