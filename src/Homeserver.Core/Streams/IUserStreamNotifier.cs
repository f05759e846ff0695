namespace Homeserver.Core.Streams;

/// <summary>
/// Wakes the users' waiting <c>/sync</c> (and sliding sync) requests once the stream has reached a position at which
/// something of theirs was written (account data, for example). Implemented by the sync module's notifier, so
/// modules that sync does not know about need not reference it.
/// </summary>
public interface IUserStreamNotifier
{
    void Notify(IReadOnlyCollection<string> userIds, long position);
}
