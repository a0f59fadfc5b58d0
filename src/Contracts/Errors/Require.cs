namespace Coordinator.Contracts.Errors;

/// <summary>Argument checks shared by the client facade and the grains, so both reject bad input with the same words.</summary>
public static class Require
{
    /// <summary>Maximum length of an id or base model name.</summary>
    public const int MaxIdLength = 200;

    /// <summary>Requires a non-empty, printable id of bounded length.</summary>
    public static string Id(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw CoordinatorException.InvalidArgument($"{name} must not be empty.");
        }

        if (value.Length > MaxIdLength)
        {
            throw CoordinatorException.InvalidArgument($"{name} must be at most {MaxIdLength} characters (got {value.Length}).");
        }

        if (value.Any(char.IsControl))
        {
            throw CoordinatorException.InvalidArgument($"{name} must not contain control characters.");
        }

        return value;
    }

    /// <summary>Requires a value greater than zero.</summary>
    public static int Positive(int value, string name) =>
        value > 0 ? value : throw CoordinatorException.InvalidArgument($"{name} must be greater than 0 (got {value}).");

    /// <summary>Requires a finite value greater than zero.</summary>
    public static double Positive(double value, string name) =>
        double.IsFinite(value) && value > 0 ? value : throw CoordinatorException.InvalidArgument($"{name} must be a finite number greater than 0 (got {value}).");
}
