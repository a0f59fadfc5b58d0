using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.Silo.Configuration;

/// <summary>The HTTP endpoint serving health, metrics and the dashboard (section <c>Http</c>).</summary>
public sealed class HttpEndpointOptions : ISectionOptions<HttpEndpointOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Http";

    /// <inheritdoc />
    public static IValidateOptions<HttpEndpointOptions> Validator { get; } = new HttpEndpointOptionsValidator();

    /// <summary>TCP port.</summary>
    [Range(1, 65535)]
    public int Port { get; set; } = 8080;

    /// <summary>Address to bind; loopback by default because the dashboard has no authentication.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Serve the Orleans dashboard at /dashboard.</summary>
    public bool DashboardEnabled { get; set; } = true;
}

/// <summary>Validates <see cref="HttpEndpointOptions"/> beyond its annotations.</summary>
public sealed class HttpEndpointOptionsValidator : IValidateOptions<HttpEndpointOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HttpEndpointOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        OptionRules.IpAddress(errors, $"{HttpEndpointOptions.SectionName}:BindAddress", options.BindAddress);
        return OptionRules.Result(errors);
    }
}
