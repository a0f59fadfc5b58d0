using Coordinator.Contracts.Errors;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Coordinator.Grains.Hosting;

/// <summary>
/// Lets nothing but <see cref="CoordinatorException"/> leave a Coordinator grain. Any other exception (a storage
/// provider's, a network failure's, a bug's) is logged here with its stack and answered as a CoordinatorException with a
/// code, without the original attached: a client cannot be expected to load server-side exception types (a Redis
/// storage exception once reached a client as a TypeLoadException). Storage, messaging and timeout failures become the
/// retryable <see cref="CoordinatorErrorCode.Unavailable"/>; anything else is <see cref="CoordinatorErrorCode.Internal"/>.
/// </summary>
internal sealed partial class ErrorTranslationFilter(ILogger<ErrorTranslationFilter> logger) : IIncomingGrainCallFilter
{
    private const string ContractsNamespace = "Coordinator.Contracts";

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception ex) when (ex is not CoordinatorException && IsCoordinatorCall(context))
        {
            var transient = IsTransient(ex);
            LogTranslated(ex, context.InterfaceName, context.MethodName, transient ? CoordinatorErrorCode.Unavailable : CoordinatorErrorCode.Internal);
            throw new CoordinatorException(
                transient ? CoordinatorErrorCode.Unavailable : CoordinatorErrorCode.Internal,
                $"{context.MethodName} failed on the server: {ex.GetType().Name}: {ex.Message}{(transient ? " Retry the call." : "")}");
        }
    }

    private static bool IsCoordinatorCall(IIncomingGrainCallContext context) =>
        context.InterfaceMethod?.DeclaringType?.Namespace?.StartsWith(ContractsNamespace, StringComparison.Ordinal) == true;

    /// <summary>Failures of the storage backend, of messaging between silos, and timeouts: the same call may succeed later.</summary>
    internal static bool IsTransient(Exception exception) => exception switch
    {
        TimeoutException or OrleansMessageRejectionException or SiloUnavailableException or InconsistentStateException => true,
        OrleansException orleans when orleans.Message.Contains("storage provider", StringComparison.OrdinalIgnoreCase) => true,
        _ => exception.GetType().FullName is { } name
             && (name.StartsWith("StackExchange.Redis.", StringComparison.Ordinal) || name.StartsWith("Orleans.Persistence.", StringComparison.Ordinal)
                 || name.StartsWith("Orleans.Storage.", StringComparison.Ordinal) || name.StartsWith("Orleans.Runtime.Messaging.", StringComparison.Ordinal))
             || exception.InnerException is { } inner && IsTransient(inner),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Interface}.{Method} failed; answered as {Code}")]
    private partial void LogTranslated(Exception exception, string @interface, string method, CoordinatorErrorCode code);
}
