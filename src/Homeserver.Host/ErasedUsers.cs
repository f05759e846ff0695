using System.Collections.Concurrent;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Rooms.Client;
using Homeserver.Users;

namespace Homeserver.Host;

/// <summary>
/// Whether a user erased their account, for history visibility (which asks for the sender of every event it shows).
/// Only local users can be erased here; each local user's answer is read once from the accounts store and kept, and a
/// deactivation with erasure updates it.
/// </summary>
internal sealed class ErasedUsers(IAccountStore accounts, HomeserverConfig config) : IErasedUsers, IAccountDeactivationListener
{
    private readonly ConcurrentDictionary<string, bool> _known = new(StringComparer.Ordinal);

    public async ValueTask<bool> IsErasedAsync(string userId, CancellationToken ct)
    {
        if (MatrixId.ServerOf(userId) != config.ServerName)
        {
            return false;
        }

        if (_known.TryGetValue(userId, out var erased))
        {
            return erased;
        }

        erased = (await accounts.GetUserAsync(userId, ct))?.Erased ?? false;
        return _known.GetOrAdd(userId, erased);
    }

    public Task OnAccountDeactivatedAsync(string userId, bool erase, CancellationToken ct)
    {
        if (erase)
        {
            _known[userId] = true;
        }

        return Task.CompletedTask;
    }
}
