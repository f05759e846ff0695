using System.Buffers;
using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Crypto;

/// <summary>
/// The redaction algorithm of each room version: which top-level keys and which <c>content</c> keys survive.
/// Spec: https://spec.matrix.org/v1.19/rooms/v1/#redactions (v1 to v5), /rooms/v6/#redactions (v6, v7),
/// /rooms/v8/#redactions, /rooms/v9/#redactions (v9, v10), /rooms/v11/#redactions (v11, v12).
/// Redaction feeds the reference hash (event IDs) and event signatures, so every byte matters.
/// </summary>
/// <remarks>
/// <para>Output is canonical JSON (keys sorted), numbers per the mode; input is never copied into a tree.</para>
/// <para><c>unsigned</c> is dropped entirely: it is not in any version's list of kept keys. Synapse keeps
/// <c>unsigned.age_ts</c> and <c>unsigned.replaces_state</c> in its pruned copy; that cannot change a hash or a
/// signature (both exclude <c>unsigned</c>), and the server adds <c>unsigned.redacted_because</c> itself when it
/// serves a redacted event to clients (https://spec.matrix.org/v1.19/client-server-api/#redactions).</para>
/// <para>A missing <c>content</c> stays missing (the spec strips keys, it does not add them; Synapse would write
/// <c>{}</c>, but an event without content fails the PDU schema anyway). A <c>content</c> that is not an object
/// becomes <c>{}</c>, except for <c>m.room.create</c> in v11+, whose content is kept whatever it is.</para>
/// <para>v11 <c>m.room.member</c>: an object <c>third_party_invite</c> is kept with only its <c>signed</c> key, and
/// as <c>{}</c> if it has none (Synapse's reading of "allows the signed key of the third_party_invite key");
/// a non-object <c>third_party_invite</c> is dropped.</para>
/// </remarks>
public static class Redaction
{
    private static readonly KeyFilter TopLevelV1 = KeyFilter.Only(
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership");

    // v11 no longer protects origin, membership and prev_state.
    private static readonly KeyFilter TopLevelV11 = KeyFilter.Only(
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "auth_events", "origin_server_ts");

    private static readonly KeyFilter Nothing = KeyFilter.Only();
    private static readonly KeyFilter MemberV1 = KeyFilter.Only("membership");
    private static readonly KeyFilter MemberV9 = KeyFilter.Only("membership", "join_authorised_via_users_server");
    private static readonly KeyFilter MemberV11 = KeyFilter.Only("membership", "join_authorised_via_users_server", "third_party_invite");
    private static readonly KeyFilter CreateV1 = KeyFilter.Only("creator");
    private static readonly KeyFilter JoinRulesV1 = KeyFilter.Only("join_rule");
    private static readonly KeyFilter JoinRulesV8 = KeyFilter.Only("join_rule", "allow");
    private static readonly KeyFilter PowerLevelsV1 = KeyFilter.Only(
        "ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default");

    private static readonly KeyFilter PowerLevelsV11 = KeyFilter.Only(
        "ban", "events", "events_default", "invite", "kick", "redact", "state_default", "users", "users_default");

    private static readonly KeyFilter Aliases = KeyFilter.Only("aliases");
    private static readonly KeyFilter HistoryVisibility = KeyFilter.Only("history_visibility");
    private static readonly KeyFilter RedactionV11 = KeyFilter.Only("redacts");
    private static readonly KeyFilter SignedOnly = KeyFilter.Only("signed");

    /// <summary>The redacted form of <paramref name="ev"/> under <paramref name="version"/>'s rules, as canonical JSON.</summary>
    /// <exception cref="ArgumentException"><paramref name="ev"/> is not a JSON object.</exception>
    /// <exception cref="CanonicalJsonException">The kept part has no canonical encoding in the version's mode.</exception>
    public static byte[] Redact(JsonElement ev, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        return Redact(ev, version.Redaction, CanonicalJson.ModeFor(version));
    }

    /// <summary>The redacted form of <paramref name="ev"/> under <paramref name="rules"/>, as canonical JSON.</summary>
    public static byte[] Redact(JsonElement ev, RedactionRules rules, CanonicalJsonMode mode = CanonicalJsonMode.Strict)
    {
        using var writer = new CanonicalJsonWriter(mode);
        Write(writer, ev, rules, KeyFilter.All);
        return writer.ToArray();
    }

    /// <summary>Appends the redacted form of <paramref name="ev"/> to <paramref name="destination"/>.</summary>
    public static void Redact(JsonElement ev, RoomVersion version, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(destination);
        using var writer = new CanonicalJsonWriter(CanonicalJson.ModeFor(version));
        Write(writer, ev, version.Redaction, KeyFilter.All);
        destination.Write(writer.WrittenSpan);
    }

    /// <summary>
    /// Writes the redacted event, additionally leaving out the top-level keys <paramref name="exclude"/> does not
    /// include (signatures and unsigned, for the reference hash and for signing).
    /// </summary>
    internal static void Write(CanonicalJsonWriter writer, JsonElement ev, RedactionRules rules, in KeyFilter exclude)
    {
        if (ev.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("An event is a JSON object.", nameof(ev));
        }

        var topLevel = rules >= RedactionRules.V11 ? TopLevelV11 : TopLevelV1;
        var type = ev.TryGetProperty("type"u8, out var t) && t.ValueKind == JsonValueKind.String ? t : default;

        using var properties = writer.CollectProperties(ev);
        writer.WriteStartObject();
        for (var i = 0; i < properties.Count; i++)
        {
            var key = properties.Key(i);
            if (!topLevel.Includes(key) || !exclude.Includes(key))
            {
                continue;
            }

            var isContent = key.SequenceEqual("content"u8);
            writer.WritePropertyName(key);
            if (!isContent)
            {
                writer.WriteNested(properties, i);
                continue;
            }

            try
            {
                WriteContent(writer, properties.Value(i), type, rules);
            }
            catch (CanonicalJsonException e)
            {
                throw e.Within("content");
            }
        }

        writer.WriteEndObject();
    }

    private static void WriteContent(CanonicalJsonWriter writer, JsonElement content, JsonElement type, RedactionRules rules)
    {
        var isString = type.ValueKind == JsonValueKind.String;
        if (isString && rules >= RedactionRules.V11 && type.ValueEquals("m.room.create"u8))
        {
            // v11: "m.room.create allows all keys".
            writer.WriteValue(content);
            return;
        }

        if (content.ValueKind != JsonValueKind.Object)
        {
            writer.WriteRawValue("{}"u8);
            return;
        }

        var allowed = isString ? ContentFilter(type, rules) : Nothing;
        var memberV11 = rules >= RedactionRules.V11 && isString && type.ValueEquals("m.room.member"u8);

        using var properties = writer.CollectProperties(content);
        writer.WriteStartObject();
        for (var i = 0; i < properties.Count; i++)
        {
            var key = properties.Key(i);
            if (!allowed.Includes(key))
            {
                continue;
            }

            if (memberV11 && key.SequenceEqual("third_party_invite"u8))
            {
                var invite = properties.Value(i);
                if (invite.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                writer.WritePropertyName(key);
                try
                {
                    writer.WriteObject(invite, SignedOnly);
                }
                catch (CanonicalJsonException e)
                {
                    throw e.Within("third_party_invite");
                }

                continue;
            }

            writer.WritePropertyName(key);
            writer.WriteNested(properties, i);
        }

        writer.WriteEndObject();
    }

    private static KeyFilter ContentFilter(JsonElement type, RedactionRules rules)
    {
        if (type.ValueEquals("m.room.member"u8))
        {
            return rules switch
            {
                >= RedactionRules.V11 => MemberV11,
                >= RedactionRules.V9 => MemberV9,
                _ => MemberV1,
            };
        }

        if (type.ValueEquals("m.room.create"u8))
        {
            return CreateV1;
        }

        if (type.ValueEquals("m.room.join_rules"u8))
        {
            return rules >= RedactionRules.V8 ? JoinRulesV8 : JoinRulesV1;
        }

        if (type.ValueEquals("m.room.power_levels"u8))
        {
            return rules >= RedactionRules.V11 ? PowerLevelsV11 : PowerLevelsV1;
        }

        if (type.ValueEquals("m.room.history_visibility"u8))
        {
            return HistoryVisibility;
        }

        // v6 removed the special case for m.room.aliases; v11 added m.room.redaction's redacts.
        if (rules < RedactionRules.V6 && type.ValueEquals("m.room.aliases"u8))
        {
            return Aliases;
        }

        if (rules >= RedactionRules.V11 && type.ValueEquals("m.room.redaction"u8))
        {
            return RedactionV11;
        }

        return Nothing;
    }
}
