using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Coordinator.Client.Configuration;

/// <summary>
/// An options class bound from one configuration section. It names its section and its validator, so every
/// place that binds it (an executable's settings, a hosting extension, a test cluster) runs the same rules.
/// </summary>
public interface ISectionOptions<TSelf>
    where TSelf : class, ISectionOptions<TSelf>
{
    /// <summary>The configuration section the options are bound from.</summary>
    static abstract string SectionName { get; }

    /// <summary>The rules beyond the data annotations on the properties (rules across keys, formats).</summary>
    static abstract IValidateOptions<TSelf> Validator { get; }
}

/// <summary>Validates and registers <see cref="ISectionOptions{TSelf}"/> classes.</summary>
public static class SectionOptions
{
    /// <summary>
    /// Every problem with <paramref name="options"/>, each line starting with the key it is about: the data
    /// annotations on its properties (<see cref="RangeAttribute"/> and the like), then its validator's rules.
    /// </summary>
    public static IReadOnlyList<string> Problems<TOptions>(TOptions options)
        where TOptions : class, ISectionOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var annotations = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), annotations, validateAllProperties: true);
        foreach (var result in annotations)
        {
            // "The field X must be between 1 and 10." reads as "Section:X: must be between 1 and 10 (got 0)."
            var member = result.MemberNames.FirstOrDefault() ?? "";
            var rule = (result.ErrorMessage ?? "is not valid").Replace($"The field {member} ", "", StringComparison.Ordinal).TrimEnd('.');
            var value = typeof(TOptions).GetProperty(member)?.GetValue(options);
            errors.Add($"{TOptions.SectionName}:{member}: {rule} (got {value}).");
        }

        var rules = TOptions.Validator.Validate(null, options);
        if (rules.Failed)
        {
            errors.AddRange(rules.Failures ?? []);
        }

        return errors;
    }

    /// <summary>
    /// Binds <typeparamref name="TOptions"/> from its section of <paramref name="configuration"/> and validates it
    /// when the host starts, with the same rules as <see cref="Problems{TOptions}"/>.
    /// </summary>
    public static IServiceCollection AddSectionOptions<TOptions>(this IServiceCollection services, IConfiguration configuration)
        where TOptions : class, ISectionOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<TOptions>().Bind(configuration.GetSection(TOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>, ProblemsValidator<TOptions>>();
        return services;
    }

    private sealed class ProblemsValidator<TOptions> : IValidateOptions<TOptions>
        where TOptions : class, ISectionOptions<TOptions>
    {
        public ValidateOptionsResult Validate(string? name, TOptions options) => OptionRules.Result(Problems(options));
    }
}

/// <summary>Small rules the option validators share; each adds one line naming the key when it fails.</summary>
public static class OptionRules
{
    /// <summary>The result of a list of problems.</summary>
    public static ValidateOptionsResult Result(IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>A period must be positive.</summary>
    public static void Period(List<string> errors, string key, TimeSpan value)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key}: must be positive (got {value}).");
        }
    }

    /// <summary>An IP address literal.</summary>
    public static void IpAddress(List<string> errors, string key, string? value)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (!IPAddress.TryParse(value, out _))
        {
            errors.Add($"{key}: '{value}' is not an IP address.");
        }
    }

    /// <summary>A name made of letters, digits, '-', '_' and '.'.</summary>
    public static void Identifier(List<string> errors, string key, string? value)
    {
        ArgumentNullException.ThrowIfNull(errors);
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

/// <summary>Marks a configuration value that must never be printed or logged as is.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SecretAttribute : Attribute;
