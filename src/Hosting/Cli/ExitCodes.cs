namespace Coordinator.Hosting.Cli;

/// <summary>Exit codes of the Coordinator executables (silo and trainer host), one table for both.</summary>
public static class ExitCodes
{
    /// <summary>Done, or stopped cleanly by SIGINT/SIGTERM.</summary>
    public const int Ok = 0;

    /// <summary>The demo failed, or <c>timeline check</c> found a broken chain.</summary>
    public const int Failed = 1;

    /// <summary>Invalid configuration; every offending key was printed.</summary>
    public const int InvalidConfiguration = 2;

    /// <summary>The persistence backend (Redis) could not be reached.</summary>
    public const int BackendUnavailable = 3;

    /// <summary>The persistence configuration drifted from the stored one and the start was refused.</summary>
    public const int DriftRefused = 4;

    /// <summary>A destructive verb was not confirmed.</summary>
    public const int NotConfirmed = 5;

    /// <summary>Could not start (a port in use, the coordinator unreachable, the engine failed to start).</summary>
    public const int StartFailed = 6;

    /// <summary>A verb's argument was wrong; what and why was printed.</summary>
    public const int InvalidArguments = 7;

    /// <summary>The demo was stopped (SIGINT or SIGTERM) before it finished; 128 + SIGINT, as shells report it.</summary>
    public const int Interrupted = 130;
}
