namespace Coordinator.TestSupport;

/// <summary>Finds the real programs the integration tests drive.</summary>
public static class Executables
{
    /// <summary>The first <paramref name="name"/> on PATH, or null.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
