using Coordinator.Contracts.Events;
using Coordinator.Events.Clock;
using Microsoft.Extensions.Time.Testing;

namespace Coordinator.Events.Tests;

/// <summary>The hybrid logical clock orders cause before effect across nodes whose wall clocks disagree.</summary>
public sealed class HybridClockTests
{
    [Fact]
    public void Local_values_never_go_back_even_when_the_wall_clock_does()
    {
        var time = new SteppedClockDouble { Now = new DateTimeOffset(2026, 11, 23, 14, 2, 7, TimeSpan.Zero) };
        var clock = new HybridClock(time);

        var first = clock.Next();
        var second = clock.Next();
        time.Now = time.Now.AddSeconds(-5); // an NTP step back
        var third = clock.Next();
        time.Now = time.Now.AddSeconds(10);
        var fourth = clock.Next();

        Assert.True(first < second && second < third && third < fourth);
        Assert.Equal(first.WallMilliseconds, third.WallMilliseconds);
        Assert.Equal(time.Now.ToUnixTimeMilliseconds(), fourth.WallMilliseconds);
    }

    [Fact]
    public void What_a_node_does_after_receiving_orders_after_the_sender_even_if_the_senders_clock_is_ahead()
    {
        var now = new DateTimeOffset(2026, 11, 23, 14, 2, 7, TimeSpan.Zero);
        var ahead = new HybridClock(new FakeTimeProvider(now.AddSeconds(30)));   // node 5, 30 s fast
        var behind = new HybridClock(new FakeTimeProvider(now));                 // node 3

        var sent = ahead.Next();               // node 5 sends its result
        var before = behind.Next();             // node 3's event before it receives
        var received = behind.Observe(sent);    // node 3 receives it
        var after = behind.Next();              // and acts on it

        Assert.True(before < sent);
        Assert.True(sent < received && received < after);
        Assert.Equal(sent.WallMilliseconds, after.WallMilliseconds);
    }

    [Fact]
    public void Receiving_an_older_value_still_moves_the_clock_forward()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 14, 2, 7, TimeSpan.Zero));
        var clock = new HybridClock(time);
        var mine = clock.Next();

        var received = clock.Observe(new HybridTime(mine.WallMilliseconds - 1000, 9));

        Assert.True(received > mine);
    }
}

/// <summary>Test double of the system clock that can be stepped back, as NTP may step a real one (FakeTimeProvider cannot).</summary>
internal sealed class SteppedClockDouble : TimeProvider
{
    public DateTimeOffset Now { get; set; }

    public override DateTimeOffset GetUtcNow() => Now;
}
