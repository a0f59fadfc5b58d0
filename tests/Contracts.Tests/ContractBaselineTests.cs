using System.Runtime.CompilerServices;
using Coordinator.Client;

namespace Coordinator.Contracts.Tests;

/// <summary>
/// The client contract is frozen: any change to the public surface of Coordinator.Contracts and Coordinator.Client (the client facade, grain
/// interfaces, DTO shapes and their Orleans field ids, error codes, names) fails this test until the baseline is
/// updated on purpose: run the test with COORDINATOR_UPDATE_CONTRACT=1, review the diff of client-contract.txt, and
/// commit it with the change (see docs/runbook.md, "Changing the client contract").
/// </summary>
public sealed class ContractBaselineTests
{
    private const string BaselineFile = "client-contract.txt";

    [Fact]
    public void The_public_client_contract_matches_the_committed_baseline()
    {
        var current = Surface();
        var path = Path.Combine(SourceDirectory(), BaselineFile);
        if (Environment.GetEnvironmentVariable("COORDINATOR_UPDATE_CONTRACT") == "1")
        {
            File.WriteAllText(path, current);
            return;
        }

        var baseline = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : "";
        var (was, now) = (baseline.Split('\n'), current.Split('\n'));
        var removed = was.Except(now).ToList();
        var added = now.Except(was).ToList();
        Assert.True(removed.Count == 0 && added.Count == 0,
            $"The client contract changed. If on purpose, run with COORDINATOR_UPDATE_CONTRACT=1 and commit {BaselineFile}.{Environment.NewLine}"
            + $"Removed or changed:{Environment.NewLine}  {string.Join($"{Environment.NewLine}  ", removed)}{Environment.NewLine}"
            + $"Added or changed:{Environment.NewLine}  {string.Join($"{Environment.NewLine}  ", added)}");
    }

    [Fact]
    public void The_surface_text_names_field_ids_interleaving_and_error_codes()
    {
        // The baseline is only worth something if the description carries what breaks clients and the wire.
        var current = Surface();

        Assert.Contains("[GenerateSerializer, Immutable] sealed record Coordinator.Contracts.Training.OperationTicket", current, StringComparison.Ordinal);
        Assert.Contains("[Id(3)] Int64 Sequence { get; init; }", current, StringComparison.Ordinal);
        Assert.Contains("[AlwaysInterleave] Task<IReadOnlyList<Coordinator.Contracts.Training.OperationResult>> AwaitOperationsAsync(", current, StringComparison.Ordinal);
        Assert.Contains("ReplicaUnavailable = ", current, StringComparison.Ordinal);
    }

    /// <summary>What a client compiles against: the wire types (Contracts) and the client library (Client).</summary>
    private static string Surface() =>
        ContractSurface.Describe(typeof(Models.IModelGrain).Assembly) + ContractSurface.Describe(typeof(CoordinatorClient).Assembly);

    private static string SourceDirectory([CallerFilePath] string file = "") => Path.GetDirectoryName(file)!;
}
