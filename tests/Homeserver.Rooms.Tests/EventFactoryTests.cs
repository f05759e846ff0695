using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Events;

namespace Homeserver.Rooms.Tests;

/// <summary>
/// Events of ours are built without a signature (<see cref="EventFactory.BuildLocal"/>) and signed as they leave
/// (<see cref="EventFactory.ForFederation(Pdu)"/>): what leaves must be what signing at once would have given.
/// </summary>
public sealed class EventFactoryTests
{
    private const string Server = "example.org";
    private const long Ts = 1_764_000_000_000;

    private readonly Ed25519SigningKey _key = Ed25519SigningKey.Generate("k1");
    private readonly EventFactory _factory;

    public EventFactoryTests() => _factory = new EventFactory(Server, _key);

    private static EventDraft Message(string body, string sender = "@alice:example.org") =>
        new("m.room.message", null, new JsonObject { ["msgtype"] = "m.text", ["body"] = body }, sender);

    private Pdu BuildLocal(RoomVersion version, EventDraft draft) =>
        _factory.BuildLocal(version, "!room:example.org", draft, ["$prev"], ["$create", "$power", "$member"], 7, Ts);

    private bool Verifies(JsonElement ev, RoomVersion version) =>
        EventSigning.VerifySignature(ev, version, Server, _key.KeyId, _key.PublicKey) == SignatureVerification.Valid;

    public static TheoryData<string> HashIdVersions => new() { "3", "10", "11", "12" };

    [Theory]
    [MemberData(nameof(HashIdVersions))]
    public void An_event_built_here_leaves_with_the_json_and_id_that_signing_at_once_gives(string versionId)
    {
        var version = RoomVersion.Find(versionId)!;
        var local = BuildLocal(version, Message("hello"));
        // Signed at once, as events another server completes are (hashes and signature in one go).
        var eager = _factory.Sign(version, _factory.BuildTemplate(version, "!room:example.org", Message("hello"), ["$prev"], ["$create", "$power", "$member"], 7, Ts));

        local.EventId.Should().Be(eager.EventId, "the reference hash leaves signatures out");
        local.Json.GetProperty("signatures").EnumerateObject().Should().BeEmpty("the signature is left for when the event leaves");
        local.Json.GetProperty("hashes").GetProperty("sha256").GetString().Should().Be(eager.Json.GetProperty("hashes").GetProperty("sha256").GetString());

        var leaving = _factory.ForFederation(local);
        leaving.GetRawText().Should().Be(eager.Json.GetRawText(), "Ed25519 signatures are deterministic");
        Verifies(leaving, version).Should().BeTrue();
        EventHashing.CheckContentHash(leaving, CanonicalJson.ModeFor(version)).Should().Be(ContentHashCheck.Valid);
        EventHashing.GetEventId(leaving, version).Should().Be(local.EventId);
    }

    [Fact]
    public void A_v1_event_built_here_keeps_its_id_and_leaves_signed()
    {
        var local = BuildLocalV1();
        local.EventId.Should().EndWith(":" + Server);
        local.Json.GetProperty("event_id").GetString().Should().Be(local.EventId);

        var leaving = _factory.ForFederation(local);
        leaving.GetProperty("event_id").GetString().Should().Be(local.EventId);
        Verifies(leaving, RoomVersion.V1).Should().BeTrue();
    }

    private Pdu BuildLocalV1()
    {
        var create = _factory.BuildLocal(RoomVersion.V1, "!room:example.org", new EventDraft("m.room.create", string.Empty, new JsonObject { ["creator"] = "@alice:example.org" }, "@alice:example.org"), [], [], 1, Ts);
        return _factory.BuildLocal(RoomVersion.V1, "!room:example.org", Message("old"), [create.EventId], [create.EventId], 2, Ts, id => id == create.EventId ? create : null);
    }

    [Fact]
    public void A_redacted_copy_leaves_with_the_same_signature_and_no_content()
    {
        var version = RoomVersion.V10;
        var local = BuildLocal(version, Message("secret"));
        var full = _factory.ForFederation(local);
        var redacted = _factory.ForFederation(local.Redacted());

        redacted.GetRawText().Should().NotContain("secret");
        Verifies(redacted, version).Should().BeTrue();
        redacted.GetProperty("signatures").GetRawText().Should().Be(full.GetProperty("signatures").GetRawText());

        // And the other way round: the signature made for the redacted copy first is the one the full event gets.
        var other = BuildLocal(version, Message("another"));
        var redactedFirst = _factory.ForFederation(other.Redacted());
        var fullAfter = _factory.ForFederation(other);
        fullAfter.GetRawText().Should().Contain("another");
        Verifies(fullAfter, version).Should().BeTrue();
        fullAfter.GetProperty("signatures").GetRawText().Should().Be(redactedFirst.GetProperty("signatures").GetRawText());
    }

    [Fact]
    public void Events_of_other_servers_and_events_we_signed_leave_as_they_are()
    {
        var version = RoomVersion.V10;
        var remoteFactory = new EventFactory("remote.example", Ed25519SigningKey.Generate("r"));
        var remote = remoteFactory.Signed(remoteFactory.BuildLocal(version, "!room:example.org", Message("theirs", "@bob:remote.example"), ["$prev"], ["$create"], 3, Ts));
        _factory.ForFederation(remote).GetRawText().Should().Be(remote.Json.GetRawText());

        var signed = _factory.Signed(_factory.BuildLocal(version, "!room:example.org", Message("signed at once"), ["$prev"], ["$create"], 3, Ts));
        _factory.ForFederation(signed).GetRawText().Should().Be(signed.Json.GetRawText());
    }

    [Fact]
    public void An_invite_the_invitees_server_signed_gets_our_signature_next_to_theirs()
    {
        var version = RoomVersion.V10;
        var local = BuildLocal(version, new EventDraft("m.room.member", "@bob:remote.example", new JsonObject { ["membership"] = "invite" }, "@alice:example.org"));
        var remoteKey = Ed25519SigningKey.Generate("r");
        var theirs = JsonElement.Parse(EventSigning.Sign(local.Json, version, "remote.example", remoteKey));
        var countersigned = Pdu.Parse(theirs, version, local.EventId);

        var leaving = _factory.ForFederation(countersigned);
        Verifies(leaving, version).Should().BeTrue();
        EventSigning.VerifySignature(leaving, version, "remote.example", remoteKey.KeyId, remoteKey.PublicKey).Should().Be(SignatureVerification.Valid);
    }

    [Fact]
    public void An_event_built_here_counts_as_signed_by_its_senders_server_only()
    {
        var verifier = SignaturesCheckedUpstreamVerifier.Instance;
        var local = BuildLocal(RoomVersion.V10, new EventDraft("m.room.member", "@carol:example.org", new JsonObject { ["membership"] = "join" }, "@carol:example.org"));
        verifier.IsSignedByServer(local, Server).Should().BeTrue("we sign it as it leaves");
        verifier.IsSignedByServer(local, "remote.example").Should().BeFalse();

        var remoteFactory = new EventFactory("remote.example", Ed25519SigningKey.Generate("r"));
        var remoteSigned = remoteFactory.Signed(remoteFactory.BuildLocal(
            RoomVersion.V10, "!room:example.org", new EventDraft("m.room.member", "@dan:remote.example", new JsonObject { ["membership"] = "join" }, "@dan:remote.example"), ["$prev"], ["$create"], 3, Ts));
        verifier.IsSignedByServer(remoteSigned, "remote.example").Should().BeTrue();
        verifier.IsSignedByServer(remoteSigned, Server).Should().BeFalse("an event with signatures is judged by them");
    }
}
