using Homeserver.Core;
using Homeserver.Crypto.KeyRing;

namespace Homeserver.Federation.Keys;

/// <summary>When the key that made a signature must have been valid.</summary>
public readonly record struct KeyValidity
{
    private KeyValidity(long? atTs, bool anyTime)
    {
        AtTs = atTs;
        AnyTime = anyTime;
    }

    /// <summary>The time a signature was made (an event's <c>origin_server_ts</c>), when the rules care about it.</summary>
    public long? AtTs { get; }

    /// <summary>Any key the server ever published will do.</summary>
    public bool AnyTime { get; }

    /// <summary>A signature made now (request authentication): a current verify key that has not expired; never an old key.</summary>
    public static KeyValidity Now { get; } = new(null, false);

    /// <summary>
    /// Any key the server published, whatever its validity: room versions 1-4 do not enforce key validity periods, so
    /// old events stay verifiable after their key expired (as Synapse checks them).
    /// </summary>
    public static KeyValidity AnyTimeAtAll { get; } = new(null, true);

    /// <summary>A signature made at <paramref name="ts"/> (room versions 5+: the key's <c>valid_until_ts</c> must be at least the event's <c>origin_server_ts</c>).</summary>
    public static KeyValidity At(long ts) => new(ts, false);

    /// <summary>What the room version requires of an event signature made at <paramref name="originServerTs"/>.</summary>
    public static KeyValidity ForEvent(RoomVersion version, long originServerTs) => version.EnforceKeyValidity ? At(originServerTs) : AnyTimeAtAll;
}

/// <summary>
/// The validity rules of server keys (server-server API "Retrieving server keys", room versions 5+ "Signing key
/// validity period"). Pure.
/// </summary>
public static class KeyValidityRules
{
    /// <summary>"Servers MUST use the lesser of valid_until_ts and 7 days into the future when determining if a key is valid."</summary>
    public static readonly TimeSpan MaxValidity = TimeSpan.FromDays(7);

    /// <summary>
    /// How long a key of a document fetched at <paramref name="fetchedTs"/> is taken to be valid: its
    /// <c>valid_until_ts</c>, but at most 7 days after it was fetched (so a server that publishes a key "valid for a
    /// year" is still asked again within a week, and can revoke it).
    /// </summary>
    public static long CappedValidUntil(long validUntilTs, long fetchedTs) => Math.Min(validUntilTs, fetchedTs + (long)MaxValidity.TotalMilliseconds);

    /// <summary>The keys of a verified document as they are kept: current keys capped, old keys as they are (valid until they expired).</summary>
    public static IReadOnlyList<ServerVerifyKey> AsKept(IReadOnlyList<ServerVerifyKey> keys, long fetchedTs) =>
        keys.Select(k => k.ExpiredTs is null ? k with { ValidUntilTs = CappedValidUntil(k.ValidUntilTs, fetchedTs) } : k).ToList();

    /// <summary>Whether <paramref name="key"/> may have made a signature with the given validity requirement at <paramref name="nowTs"/>.</summary>
    public static bool Accepts(ServerVerifyKey key, KeyValidity validity, long nowTs)
    {
        if (validity.AnyTime)
        {
            return true;
        }

        if (validity.AtTs is { } ts)
        {
            return key.ValidAt(ts);
        }

        return key.ExpiredTs is null && key.ValidUntilTs > nowTs;
    }
}
