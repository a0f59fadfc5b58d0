namespace Coordinator.Grains.Hosting;

/// <summary>
/// Runs a grain's deadline check (session lease, replica heartbeat) on a timer while the grain is active and on a
/// reminder otherwise, so a deadline still passes after the grain's silo crashed and nobody calls it.
/// </summary>
internal sealed class GrainWatchdog(Grain grain, string reminderName, TimeSpan checkPeriod, TimeSpan deadline, Func<Task> check)
{
    /// <summary>Orleans reminders tick at most once a minute.</summary>
    private static readonly TimeSpan MinReminderPeriod = TimeSpan.FromMinutes(1);

    private IGrainTimer? _timer;

    private TimeSpan ReminderPeriod => deadline > MinReminderPeriod ? deadline : MinReminderPeriod;

    /// <summary>Starts the timer; with <paramref name="persist"/>, also (re)registers the reminder.</summary>
    public async Task StartAsync(bool persist)
    {
        if (persist)
        {
            await grain.RegisterOrUpdateReminder(reminderName, ReminderPeriod, ReminderPeriod);
        }

        _timer ??= grain.RegisterGrainTimer(
            static (c, _) => c(),
            check,
            new GrainTimerCreationOptions(checkPeriod, checkPeriod) { KeepAlive = true });
    }

    /// <summary>Stops the timer and removes the reminder: nothing is left to watch.</summary>
    public async Task StopAsync()
    {
        _timer?.Dispose();
        _timer = null;
        var reminder = await grain.GetReminder(reminderName);
        if (reminder is not null)
        {
            await grain.UnregisterReminder(reminder);
        }
    }
}
