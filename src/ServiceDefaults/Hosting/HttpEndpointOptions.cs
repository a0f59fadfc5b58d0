using System.ComponentModel.DataAnnotations;
using Coordinator.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Coordinator.ServiceDefaults.Hosting;

/// <summary>A process's HTTP endpoint: health and metrics on every process, the dashboard and timeline on silos (section <c>Http</c>).</summary>
public sealed class HttpEndpointOptions : ISectionOptions<HttpEndpointOptions>
{
    /// <inheritdoc />
    public static string SectionName => "Http";

    /// <inheritdoc />
    public static IValidateOptions<HttpEndpointOptions> Validator { get; } = new HttpEndpointOptionsValidator();

    /// <summary>TCP port; 0 picks a free one (logged at start).</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 8080;

    /// <summary>Address to bind; loopback by default, because nothing served there has authentication.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";
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
