using System.Net;
using System.Reflection;
using Coordinator.Contracts.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Coordinator.ServiceDefaults.Configuration;

/// <summary>Runs an <see cref="IValidateOptions{TOptions}"/> over the section of that type in a settings object.</summary>
public sealed class SectionValidator<TOptions>(IValidateOptions<TOptions> inner) : IValidator
    where TOptions : class
{
    /// <inheritdoc />
    public IEnumerable<string> Validate(object settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var property = settings.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Single(p => p.PropertyType == typeof(TOptions));
        var result = inner.Validate(null, (TOptions)property.GetValue(settings)!);
        return result.Failed ? result.Failures ?? [] : [];
    }
}

/// <summary>Validates <see cref="CoordinatorClusterOptions"/>.</summary>
public sealed class ClusterOptionsValidator : IValidateOptions<CoordinatorClusterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CoordinatorClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = CoordinatorClusterOptions.SectionName;
        var errors = new List<string>();
        Rules.Identifier(errors, $"{S}:ClusterId", options.ClusterId);
        Rules.Identifier(errors, $"{S}:ServiceId", options.ServiceId);
        Rules.Port(errors, $"{S}:SiloPort", options.SiloPort);
        Rules.Port(errors, $"{S}:GatewayPort", options.GatewayPort);
        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add($"{S}:GatewayPort: must differ from {S}:SiloPort (both {options.SiloPort}).");
        }

        Rules.IpAddress(errors, $"{S}:AdvertisedAddress", options.AdvertisedAddress);
        return Rules.Result(errors);
    }
}

/// <summary>Validates <see cref="PersistenceOptions"/>.</summary>
public sealed class PersistenceOptionsValidator : IValidateOptions<PersistenceOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, PersistenceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = PersistenceOptions.SectionName;
        var errors = new List<string>();
        var hasRedis = !string.IsNullOrWhiteSpace(options.RedisConnectionString);
        if (options.Provider == PersistenceProvider.Memory && hasRedis)
        {
            errors.Add($"{S}:RedisConnectionString: is set but {S}:Provider is Memory; remove one of them.");
        }
        else if (options.EffectiveProvider == PersistenceProvider.Redis)
        {
            if (!hasRedis)
            {
                errors.Add($"{S}:RedisConnectionString: is required when {S}:Provider is Redis.");
            }
            else
            {
                try
                {
                    if (ConfigurationOptions.Parse(options.RedisConnectionString!).EndPoints.Count == 0)
                    {
                        errors.Add($"{S}:RedisConnectionString: names no host:port endpoint.");
                    }
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{S}:RedisConnectionString: is not a valid Redis connection string ({Redaction.RedactConnectionString(ex.Message)}).");
                }
            }
        }

        return Rules.Result(errors);
    }
}

/// <summary>Validates <see cref="HttpEndpointOptions"/>.</summary>
public sealed class HttpEndpointOptionsValidator : IValidateOptions<HttpEndpointOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HttpEndpointOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        Rules.Port(errors, $"{HttpEndpointOptions.SectionName}:Port", options.Port);
        Rules.IpAddress(errors, $"{HttpEndpointOptions.SectionName}:BindAddress", options.BindAddress);
        return Rules.Result(errors);
    }
}

/// <summary>Validates <see cref="CoordinatorSessionOptions"/>.</summary>
public sealed class CoordinatorSessionOptionsValidator : IValidateOptions<CoordinatorSessionOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CoordinatorSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = CoordinatorSessionOptions.SectionName;
        var errors = new List<string>();
        Rules.Period(errors, $"{S}:IdleTimeout", options.IdleTimeout);
        Rules.Period(errors, $"{S}:ExpiryCheckPeriod", options.ExpiryCheckPeriod);
        if (options.ExpiryCheckPeriod > options.IdleTimeout)
        {
            errors.Add($"{S}:ExpiryCheckPeriod: must not exceed {S}:IdleTimeout ({options.IdleTimeout}).");
        }

        if (options.MaxModelsPerToken < 1)
        {
            errors.Add($"{S}:MaxModelsPerToken: must be at least 1 (got {options.MaxModelsPerToken}).");
        }

        return Rules.Result(errors);
    }
}

/// <summary>Validates <see cref="ReplicaOptions"/>.</summary>
public sealed class ReplicaOptionsValidator : IValidateOptions<ReplicaOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ReplicaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = ReplicaOptions.SectionName;
        var errors = new List<string>();
        Rules.Period(errors, $"{S}:HeartbeatTimeout", options.HeartbeatTimeout);
        Rules.Period(errors, $"{S}:LivenessCheckPeriod", options.LivenessCheckPeriod);
        if (options.LivenessCheckPeriod > options.HeartbeatTimeout)
        {
            errors.Add($"{S}:LivenessCheckPeriod: must not exceed {S}:HeartbeatTimeout ({options.HeartbeatTimeout}).");
        }

        return Rules.Result(errors);
    }
}

/// <summary>Validates <see cref="ModelOperationOptions"/>.</summary>
public sealed class ModelOperationOptionsValidator : IValidateOptions<ModelOperationOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ModelOperationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = ModelOperationOptions.SectionName;
        var errors = new List<string>();
        Rules.Period(errors, $"{S}:ResultRetention", options.ResultRetention);
        if (options.MaxQueuedOperations < 1)
        {
            errors.Add($"{S}:MaxQueuedOperations: must be at least 1 (got {options.MaxQueuedOperations}).");
        }

        if (options.MaxRetainedResults < 1)
        {
            errors.Add($"{S}:MaxRetainedResults: must be at least 1 (got {options.MaxRetainedResults}).");
        }

        return Rules.Result(errors);
    }
}

/// <summary>Validates <see cref="TelemetryOptions"/>.</summary>
public sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(options.OtlpEndpoint)
            && !(Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            errors.Add($"{TelemetryOptions.SectionName}:OtlpEndpoint: '{options.OtlpEndpoint}' is not an absolute http(s) URL.");
        }

        return Rules.Result(errors);
    }
}

/// <summary>Small rules shared by the validators.</summary>
internal static class Rules
{
    public static ValidateOptionsResult Result(List<string> errors) =>
        errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);

    public static void Port(List<string> errors, string key, int port)
    {
        if (port is < 1 or > 65535)
        {
            errors.Add($"{key}: must be between 1 and 65535 (got {port}).");
        }
    }

    public static void Period(List<string> errors, string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key}: must be positive (got {value}).");
        }
    }

    public static void IpAddress(List<string> errors, string key, string? value)
    {
        if (!IPAddress.TryParse(value, out _))
        {
            errors.Add($"{key}: '{value}' is not an IP address.");
        }
    }

    public static void Identifier(List<string> errors, string key, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"{key}: must not be empty.");
        }
        else if (!value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            errors.Add($"{key}: '{value}' may only contain letters, digits, '-', '_' and '.'.");
        }
    }
}
