using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Grains.Models;

/// <summary>Training operations on models (section <c>Operations</c>).</summary>
public sealed class OperationOptions : ISectionOptions<OperationOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Operations";

    /// <inheritdoc />
    public static IValidateOptions<OperationOptions> Validator { get; } = new OperationOptionsValidator();

    /// <summary>How long a finished operation's result stays readable.</summary>
    public TimeSpan ResultRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most operations one model may have queued behind the running one.</summary>
    [Range(1, 100_000)]
    public int MaxQueuedOperations { get; set; } = 1024;

    /// <summary>Most finished results one model keeps; the oldest go first once retention allows nothing else.</summary>
    [Range(1, 1_000_000)]
    public int MaxRetainedResults { get; set; } = 4096;

    /// <summary>
    /// Finished results written with the model, besides those of unfinished submissions: what a client can still read
    /// after the model's silo fails over. Each is written with every outcome, so keep it small.
    /// </summary>
    [Range(1, 10_000)]
    public int PersistedResults { get; set; } = 32;
}

/// <summary>Validates <see cref="OperationOptions"/> beyond its annotations.</summary>
public sealed class OperationOptionsValidator : IValidateOptions<OperationOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, OperationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        OptionRules.Period(errors, $"{OperationOptions.SectionName}:ResultRetention", options.ResultRetention);
        return OptionRules.Result(errors);
    }
}
