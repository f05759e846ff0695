namespace Homeserver.Core;

/// <summary>How event IDs are formed in a room version.</summary>
public enum EventIdFormat
{
    /// <summary>v1, v2: <c>$opaque:server</c>, chosen by the origin and carried in the event.</summary>
    ServerGenerated = 1,

    /// <summary>v3: <c>$</c> + standard unpadded base64 of the reference hash.</summary>
    ReferenceHashBase64 = 3,

    /// <summary>v4 and later: <c>$</c> + URL-safe unpadded base64 of the reference hash.</summary>
    ReferenceHashUrlSafe = 4,
}

/// <summary>Which state resolution algorithm a room version uses.</summary>
public enum StateResolutionAlgorithm
{
    V1 = 1,
    V2 = 2,

    /// <summary>Room version 12: v2 with the conflicted state subgraph and an empty initial state.</summary>
    V2_1 = 3,
}

/// <summary>Which set of redaction rules a room version uses (the spec's "Redactions" sections).</summary>
public enum RedactionRules
{
    /// <summary>v1 to v5.</summary>
    V1 = 1,

    /// <summary>v6, v7: <c>m.room.aliases</c> loses its special treatment; <c>notifications</c> is not kept yet.</summary>
    V6 = 6,

    /// <summary>v8: keeps <c>allow</c> in <c>m.room.join_rules</c>.</summary>
    V8 = 8,

    /// <summary>v9, v10: also keeps <c>join_authorised_via_users_server</c> in <c>m.room.member</c>.</summary>
    V9 = 9,

    /// <summary>v11 and later: the revised algorithm (whole create content, <c>invite</c> in power levels, <c>redacts</c> in content...).</summary>
    V11 = 11,
}

/// <summary>
/// The properties of one room version that the rest of the server branches on.
/// See the room versions specification: https://spec.matrix.org/v1.19/rooms/.
/// Data only: the algorithms live in Homeserver.Crypto (IDs, redaction) and Homeserver.Rooms (auth, state resolution).
/// </summary>
public sealed record RoomVersion
{
    public required string Id { get; init; }

    public bool Stable { get; init; } = true;

    public required EventIdFormat EventIdFormat { get; init; }

    public required StateResolutionAlgorithm StateResolution { get; init; }

    public required RedactionRules Redaction { get; init; }

    /// <summary>v1, v2: events carry <c>prev_events</c>/<c>auth_events</c> as <c>[id, hashes]</c> pairs and an <c>event_id</c> field.</summary>
    public bool UsesEventIdHashPairs => EventIdFormat == EventIdFormat.ServerGenerated;

    /// <summary>v5 and later: a signing key must be valid at the event's <c>origin_server_ts</c>.</summary>
    public bool EnforceKeyValidity { get; init; }

    /// <summary>v6 and later: canonical JSON is strictly enforced (integer range, no floats).</summary>
    public bool StrictCanonicalJson { get; init; }

    /// <summary>v1 to v5: the special <c>m.room.aliases</c> authorisation rule.</summary>
    public bool SpecialCaseAliasesAuth { get; init; }

    /// <summary>v7 and later: the <c>knock</c> membership and join rule.</summary>
    public bool Knocking { get; init; }

    /// <summary>v8 and later: the <c>restricted</c> join rule.</summary>
    public bool RestrictedJoins { get; init; }

    /// <summary>v10 and later: the <c>knock_restricted</c> join rule.</summary>
    public bool KnockRestricted { get; init; }

    /// <summary>v10 and later: power level values must be integers (not strings).</summary>
    public bool IntegerPowerLevels { get; init; }

    /// <summary>v11 and later: <c>m.room.create</c> has no <c>creator</c>; the sender is the creator.</summary>
    public bool ImplicitRoomCreator { get; init; }

    /// <summary>v11 and later: <c>redacts</c> lives in the content of <c>m.room.redaction</c>.</summary>
    public bool RedactsInContent { get; init; }

    /// <summary>v12 and later: room ID is the create event's ID with <c>!</c>; create event not in auth_events; creators have infinite power.</summary>
    public bool RoomIdIsCreateEventHash { get; init; }

    /// <summary>v12 and later: <c>additional_creators</c> and privileged creators.</summary>
    public bool PrivilegedCreators { get; init; }

    public static readonly RoomVersion V1 = new()
    {
        Id = "1", EventIdFormat = EventIdFormat.ServerGenerated, StateResolution = StateResolutionAlgorithm.V1,
        Redaction = RedactionRules.V1, SpecialCaseAliasesAuth = true,
    };

    public static readonly RoomVersion V2 = V1 with { Id = "2", StateResolution = StateResolutionAlgorithm.V2 };

    public static readonly RoomVersion V3 = V2 with { Id = "3", EventIdFormat = EventIdFormat.ReferenceHashBase64 };

    public static readonly RoomVersion V4 = V3 with { Id = "4", EventIdFormat = EventIdFormat.ReferenceHashUrlSafe };

    public static readonly RoomVersion V5 = V4 with { Id = "5", EnforceKeyValidity = true };

    public static readonly RoomVersion V6 = V5 with
    {
        Id = "6", Redaction = RedactionRules.V6, StrictCanonicalJson = true, SpecialCaseAliasesAuth = false,
    };

    public static readonly RoomVersion V7 = V6 with { Id = "7", Knocking = true };

    public static readonly RoomVersion V8 = V7 with { Id = "8", Redaction = RedactionRules.V8, RestrictedJoins = true };

    public static readonly RoomVersion V9 = V8 with { Id = "9", Redaction = RedactionRules.V9 };

    public static readonly RoomVersion V10 = V9 with { Id = "10", KnockRestricted = true, IntegerPowerLevels = true };

    public static readonly RoomVersion V11 = V10 with
    {
        Id = "11", Redaction = RedactionRules.V11, ImplicitRoomCreator = true, RedactsInContent = true,
    };

    public static readonly RoomVersion V12 = V11 with
    {
        Id = "12", StateResolution = StateResolutionAlgorithm.V2_1, RoomIdIsCreateEventHash = true, PrivilegedCreators = true,
    };

    /// <summary>Every version we implement, in order.</summary>
    public static IReadOnlyList<RoomVersion> All { get; } = [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12];

    public static RoomVersion? Find(string? id) => id is null ? null : All.FirstOrDefault(v => v.Id == id);
}
