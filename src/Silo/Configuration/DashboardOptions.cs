using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Silo.Configuration;

/// <summary>The Orleans dashboard a silo serves at <c>/dashboard</c> on its HTTP endpoint (section <c>Dashboard</c>).</summary>
public sealed class DashboardOptions : ISectionOptions<DashboardOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Dashboard";

    /// <inheritdoc />
    public static IValidateOptions<DashboardOptions> Validator { get; } = new DashboardOptionsValidator();

    /// <summary>Serve the dashboard.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>Validates <see cref="DashboardOptions"/>: a boolean has nothing beyond its type to check.</summary>
public sealed class DashboardOptionsValidator : IValidateOptions<DashboardOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DashboardOptions options) => ValidateOptionsResult.Success;
}
