using Coordinator.Contracts.Errors;
using Coordinator.TestSupport;
using Microsoft.Extensions.Hosting;

namespace Coordinator.Silo.Tests;

/// <summary>The silo's /metrics, scraped as Prometheus would: the handler metrics by grain and method, and promtool's verdict on them.</summary>
public sealed class MetricsTests(RedisFixture fixture) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Handler_metrics_are_exported_by_grain_and_method_and_promtool_finds_nothing_wrong()
    {
        var settings = fixture.Settings(clusterId: $"metrics-{Guid.NewGuid():N}");
        await using var silo = await RedisFixture.StartSiloAsync(settings);
        var (host, client) = await RedisFixture.ConnectAsync(settings);
        CoordinatorException denied;
        using (host)
        {
            var session = await client.OpenSessionAsync("metrics-owner");
            denied = await Assert.ThrowsAsync<CoordinatorException>(() => client.HeartbeatSessionAsync(session.SessionId, "not-the-owner"));
            await host.StopAsync();
        }

        using var web = new HttpClient();
        var scrape = await web.GetStringAsync($"http://127.0.0.1:{settings.Http.Port}/metrics");
        var ours = Promtool.Ours(scrape).Split('\n').ToList();

        Assert.Contains(ours, l => Sample(l, "coordinator_handler_requests_total", "grain=\"SessionGrain\"", "method=\"CreateAsync\""));
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_errors_total", "grain=\"SessionGrain\"", "method=\"HeartbeatAsync\"", $"error_type=\"{denied.Code}\""));
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_request_duration_seconds_bucket", "method=\"CreateAsync\"", "le=\"0.0001\""));
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_request_duration_seconds_bucket", "method=\"CreateAsync\"", "le=\"600\""));
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_inflight_requests", "method=\"CreateAsync\""));
        Assert.Contains("# TYPE coordinator_handler_inflight_requests gauge", ours);

        // The client stamps its calls: their transit and queue wait, and the handler's phases.
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_network_transit_seconds_count", "grain=\"SessionGrain\"", "method=\"CreateAsync\"") && Value(l) > 0);
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_queue_wait_seconds_count", "method=\"CreateAsync\"") && Value(l) > 0);
        Assert.Contains(ours, l => Sample(l, "coordinator_handler_phase_seconds_count", "method=\"CreateAsync\"", "phase=\"on_thread\"") && Value(l) > 0);

        // The node's machine, from the readings of the run events' resource snapshots.
        Assert.Contains(ours, l => l.StartsWith("coordinator_node_disk_free_bytes", StringComparison.Ordinal) && Value(l) > 0);
        Assert.Contains(ours, l => Sample(l, "coordinator_node_network_bytes_total", "direction=\"received\""));

        // The thread-pool canary has measured since the silo started (every 100 ms).
        Assert.Contains(ours, l => l.StartsWith("coordinator_runtime_scheduler_delay_seconds_count", StringComparison.Ordinal) && Value(l) > 0);
        Assert.Contains(ours, l => l.StartsWith("coordinator_runtime_threadpool_threads", StringComparison.Ordinal));

        // Orleans' own metrics, less its per-message size histograms (Telemetry:MessageSizes is off).
        Assert.Contains("orleans_gateway_received", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain("orleans_messaging_sent_messages_size", scrape, StringComparison.Ordinal);

        var (exit, complaints) = await Promtool.CheckMetricsAsync(Promtool.Ours(scrape));
        Assert.True(exit == 0 && complaints.Length == 0, $"promtool check metrics exited {exit}: {complaints}");
    }

    /// <summary>The value of a sample line: "name{labels} value [timestamp]" or "name value [timestamp]".</summary>
    private static double Value(string line) =>
        double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ') is var after && line.Contains('}', StringComparison.Ordinal) ? after[0] : line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);

    private static bool Sample(string line, string name, params string[] labels) =>
        line.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l => line.Contains(l, StringComparison.Ordinal));
}
