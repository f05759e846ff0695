using System.Text.Json.Nodes;
using Homeserver.Core;
using static Homeserver.Crypto.Tests.TestSupport;

namespace Homeserver.Crypto.Tests;

public sealed class EventSigningTests
{
    // Appendices, "Cryptographic Test Vectors", "Event Signing": inputs and expected outputs, verbatim.
    private const string MinimalEvent = """
        {
            "room_id": "!x:domain",
            "sender": "@a:domain",
            "origin": "domain",
            "origin_server_ts": 1000000,
            "signatures": {},
            "hashes": {},
            "type": "X",
            "content": {},
            "prev_events": [],
            "auth_events": [],
            "depth": 3,
            "unsigned": {
                "age_ts": 1000000
            }
        }
        """;

    private const string MinimalEventSigned = """
        {
            "auth_events": [],
            "content": {},
            "depth": 3,
            "hashes": {
                "sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
            },
            "origin": "domain",
            "origin_server_ts": 1000000,
            "prev_events": [],
            "room_id": "!x:domain",
            "sender": "@a:domain",
            "signatures": {
                "domain": {
                    "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
                }
            },
            "type": "X",
            "unsigned": {
                "age_ts": 1000000
            }
        }
        """;

    private const string RedactableEvent = """
        {
            "content": {
                "body": "Here is the message content"
            },
            "event_id": "$0:domain",
            "origin": "domain",
            "origin_server_ts": 1000000,
            "type": "m.room.message",
            "room_id": "!r:domain",
            "sender": "@u:domain",
            "signatures": {},
            "unsigned": {
                "age_ts": 1000000
            }
        }
        """;

    private const string RedactableEventSigned = """
        {
            "content": {
                "body": "Here is the message content"
            },
            "event_id": "$0:domain",
            "hashes": {
                "sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
            },
            "origin": "domain",
            "origin_server_ts": 1000000,
            "type": "m.room.message",
            "room_id": "!r:domain",
            "sender": "@u:domain",
            "signatures": {
                "domain": {
                    "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
                }
            },
            "unsigned": {
                "age_ts": 1000000
            }
        }
        """;

    /// <summary>The vectors carry "origin", which v11 no longer protects; every version before v11 must reproduce them.</summary>
    public static TheoryData<string> VersionsBeforeV11 => new() { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10" };

    [Theory]
    [MemberData(nameof(VersionsBeforeV11))]
    public void The_minimal_event_is_hashed_and_signed_exactly_as_in_the_spec(string versionId)
    {
        using var key = SpecKey();
        var signed = EventSigning.HashAndSign(Parse(MinimalEvent), RoomVersion.Find(versionId)!, "domain", key);
        signed.ShouldBeSameJson(MinimalEventSigned);
        Utf8(signed).Should().Be(Canonical(MinimalEventSigned));
    }

    [Theory]
    [MemberData(nameof(VersionsBeforeV11))]
    public void The_redactable_event_is_hashed_and_signed_exactly_as_in_the_spec(string versionId)
    {
        using var key = SpecKey();
        var signed = EventSigning.HashAndSign(Parse(RedactableEvent), RoomVersion.Find(versionId)!, "domain", key);
        Utf8(signed).Should().Be(Canonical(RedactableEventSigned));
    }

    [Fact]
    public void The_spec_outputs_verify_and_their_content_hashes_check()
    {
        var publicKey = UnpaddedBase64.Decode(SpecPublicKeyBase64);
        foreach (var signed in new[] { MinimalEventSigned, RedactableEventSigned })
        {
            EventSigning.VerifySignature(Parse(signed), RoomVersion.V1, "domain", "ed25519:1", publicKey).Should().Be(SignatureVerification.Valid);
            EventHashing.CheckContentHash(Parse(signed)).Should().Be(ContentHashCheck.Valid);
        }
    }

    [Fact]
    public void A_redacted_copy_still_verifies_but_its_content_hash_no_longer_matches()
    {
        var publicKey = UnpaddedBase64.Decode(SpecPublicKeyBase64);
        var redacted = Parse(Redaction.Redact(Parse(RedactableEventSigned), RoomVersion.V1));
        redacted.GetProperty("content").EnumerateObject().Should().BeEmpty();

        EventSigning.VerifySignature(redacted, RoomVersion.V1, "domain", "ed25519:1", publicKey).Should().Be(SignatureVerification.Valid);
        EventHashing.CheckContentHash(redacted).Should().Be(ContentHashCheck.Mismatch);
    }

    [Fact]
    public void Changing_redactable_content_is_caught_by_the_content_hash_and_changing_an_essential_key_by_the_signature()
    {
        var publicKey = UnpaddedBase64.Decode(SpecPublicKeyBase64);
        var body = JsonNode.Parse(RedactableEventSigned)!.AsObject();
        body["content"]!["body"] = "Something else";
        EventSigning.VerifySignature(Parse(body.ToJsonString()), RoomVersion.V1, "domain", "ed25519:1", publicKey)
            .Should().Be(SignatureVerification.Valid, "the signature covers the redacted event only");
        EventHashing.CheckContentHash(Parse(body.ToJsonString())).Should().Be(ContentHashCheck.Mismatch);

        var sender = JsonNode.Parse(RedactableEventSigned)!.AsObject();
        sender["sender"] = "@mallory:domain";
        EventSigning.VerifySignature(Parse(sender.ToJsonString()), RoomVersion.V1, "domain", "ed25519:1", publicKey)
            .Should().Be(SignatureVerification.BadSignature);

        var hashes = JsonNode.Parse(RedactableEventSigned)!.AsObject();
        hashes["hashes"]!["sha256"] = UnpaddedBase64.Encode(new byte[32]);
        EventSigning.VerifySignature(Parse(hashes.ToJsonString()), RoomVersion.V1, "domain", "ed25519:1", publicKey)
            .Should().Be(SignatureVerification.BadSignature, "hashes are covered by the signature");
    }

    [Fact]
    public void Co_signing_keeps_the_first_signature()
    {
        using var spec = SpecKey();
        using var resident = Ed25519SigningKey.Generate("r1");
        var first = EventSigning.HashAndSign(Parse(MinimalEvent), RoomVersion.V10, "domain", spec);
        var both = Parse(EventSigning.Sign(Parse(first), RoomVersion.V10, "resident.org", resident));

        EventSigning.VerifySignature(both, RoomVersion.V10, "domain", "ed25519:1", spec.PublicKey).Should().Be(SignatureVerification.Valid);
        EventSigning.VerifySignature(both, RoomVersion.V10, "resident.org", "ed25519:r1", resident.PublicKey).Should().Be(SignatureVerification.Valid);
        EventSigning.VerifySignature(both, RoomVersion.V10, "resident.org", "ed25519:r1", spec.PublicKey).Should().Be(SignatureVerification.BadSignature);
        EventSigning.VerifySignature(both, RoomVersion.V10, "other.org", "ed25519:r1", spec.PublicKey).Should().Be(SignatureVerification.MissingSignature);
    }

    [Fact]
    public void V11_signatures_no_longer_cover_origin()
    {
        using var key = SpecKey();
        var signed = EventSigning.HashAndSign(Parse(MinimalEvent), RoomVersion.V11, "domain", key);
        var moved = JsonNode.Parse(signed)!.AsObject();
        moved["origin"] = "elsewhere";
        EventSigning.VerifySignature(Parse(moved.ToJsonString()), RoomVersion.V11, "domain", "ed25519:1", key.PublicKey)
            .Should().Be(SignatureVerification.Valid);
        EventSigning.VerifySignature(Parse(moved.ToJsonString()), RoomVersion.V10, "domain", "ed25519:1", key.PublicKey)
            .Should().Be(SignatureVerification.BadSignature);
    }

    [Fact]
    public void The_v12_create_event_is_signed_as_python_signs_it()
    {
        // Vectors/generate_vectors.py, "v12 create signed".
        const string create = """
            {"auth_events": [], "content": {"room_version": "12", "additional_creators": ["@bob:example.org"]}, "depth": 1,
             "origin_server_ts": 1750000000000, "prev_events": [], "sender": "@alice:example.org", "state_key": "",
             "type": "m.room.create", "unsigned": {}}
            """;
        const string expected = """
            {"auth_events": [], "content": {"additional_creators": ["@bob:example.org"], "room_version": "12"}, "depth": 1, "hashes": {"sha256": "VBkJOgBu8+HdllVOrq7fkXhd2AaZ11DjZ5guYsBiig8"}, "origin_server_ts": 1750000000000, "prev_events": [], "sender": "@alice:example.org", "signatures": {"example.org": {"ed25519:1": "DpQMIIUZjAiMFuDK4geX8+kKPQTmZVWpKZXRqwyndfyAt35u3trYhJsFhTH4Cbnh+0ZpaFrzO7UhsB8qzOQCCw"}}, "state_key": "", "type": "m.room.create", "unsigned": {}}
            """;
        using var key = SpecKey();
        var signed = EventSigning.HashAndSign(Parse(create), RoomVersion.V12, "example.org", key);
        Utf8(signed).Should().Be(Canonical(expected));
        EventHashing.ComputeRoomId(Parse(signed), RoomVersion.V12).Should().Be("!8y1VSzjzvQvb2DJj3QKmu9BuQWd1q4vtNG-xWfIqQNM");
    }

    [Fact]
    public void Legacy_events_with_floats_are_signed_with_python_numbers_and_strict_versions_refuse_them()
    {
        const string ev = "{\"type\":\"m.room.message\",\"content\":{\"n\":1.0},\"sender\":\"@a:x\"}";
        using var key = SpecKey();
        var signed = Parse(EventSigning.HashAndSign(Parse(ev), RoomVersion.V5, "x", key));
        signed.GetProperty("content").GetProperty("n").GetRawText().Should().Be("1.0");
        EventSigning.VerifySignature(signed, RoomVersion.V5, "x", "ed25519:1", key.PublicKey).Should().Be(SignatureVerification.Valid);
        EventSigning.VerifySignature(signed, RoomVersion.V6, "x", "ed25519:1", key.PublicKey).Should().Be(SignatureVerification.Valid,
            "content is redacted away before signing, so the float never reaches the signed bytes");
        EventHashing.CheckContentHash(signed, CanonicalJsonMode.Strict).Should().Be(ContentHashCheck.InvalidJson);

        var strict = () => EventSigning.HashAndSign(Parse(ev), RoomVersion.V6, "x", key);
        strict.Should().Throw<CanonicalJsonException>();
    }

    [Fact]
    public void Signature_checks_on_non_objects_and_bad_public_keys_report_the_reason()
    {
        EventSigning.VerifySignature(Parse("[]"), RoomVersion.V1, "domain", "ed25519:1", new byte[32]).Should().Be(SignatureVerification.InvalidJson);
        EventSigning.VerifySignature(Parse(MinimalEventSigned), RoomVersion.V1, "domain", "ed25519:1", new byte[3])
            .Should().Be(SignatureVerification.InvalidPublicKey);
    }
}
