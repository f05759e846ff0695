using System.Text.Json;

namespace Homeserver.Core.Federation;

/// <summary>
/// Handles one kind of EDU received from another server (<c>m.typing</c>, <c>m.receipt</c>, <c>m.presence</c>,
/// <c>m.device_list_update</c>, <c>m.direct_to_device</c>, <c>m.signing_key_update</c>...). Modules register
/// implementations; the federation layer dispatches by <see cref="EduType"/> after authenticating the origin.
/// </summary>
public interface IEduHandler
{
    string EduType { get; }

    Task HandleAsync(string origin, JsonElement content, CancellationToken ct);
}

/// <summary>Sends EDUs to other servers (implemented by the federation sender; a no-op list when federation is off).</summary>
public interface IEduSender
{
    /// <summary>Queues an EDU for each destination (our own server name is ignored). Delivery is best effort, in order per destination.</summary>
    void Send(IEnumerable<string> destinations, string eduType, JsonElement content);

    /// <summary>
    /// Stores an EDU for each destination before returning, to be delivered at least once even across our restart or
    /// the destination's outage (send-to-device messages and device list updates, which end-to-end encryption cannot
    /// lose). Delivered in order per destination, before the best-effort EDUs queued after it.
    /// </summary>
    Task SendPersistentAsync(IEnumerable<string> destinations, string eduType, JsonElement content, CancellationToken ct);
}
