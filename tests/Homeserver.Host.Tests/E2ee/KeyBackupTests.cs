using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.TestKit;

namespace Homeserver.Host.Tests.E2ee;

public sealed class KeyBackupTests(TestServer server) : IClassFixture<TestServer>
{
    private const string Algorithm = "m.megolm_backup.v1.curve25519-aes-sha2";

    private static JsonObject VersionBody(string publicKey = "abcdefg") =>
        new() { ["algorithm"] = Algorithm, ["auth_data"] = new JsonObject { ["public_key"] = publicKey } };

    private static JsonObject Key(long firstMessageIndex, long forwardedCount, bool verified, string data) => new()
    {
        ["first_message_index"] = firstMessageIndex,
        ["forwarded_count"] = forwardedCount,
        ["is_verified"] = verified,
        ["session_data"] = new JsonObject { ["ciphertext"] = data },
    };

    private static async Task<string> CreateVersionAsync(MatrixClient client, string publicKey = "abcdefg") =>
        (await client.PostAsync("/_matrix/client/v3/room_keys/version", VersionBody(publicKey))).EnsureOk().Json.GetProperty("version").GetString()!;

    private static string KeysPath(string version, string? roomId = null, string? sessionId = null) =>
        "/_matrix/client/v3/room_keys/keys" + (roomId is null ? string.Empty : "/" + Uri.EscapeDataString(roomId))
        + (sessionId is null ? string.Empty : "/" + Uri.EscapeDataString(sessionId)) + "?version=" + Uri.EscapeDataString(version);

    private static async Task<string> StoredCiphertextAsync(MatrixClient client, string version, string roomId, string sessionId) =>
        (await client.GetAsync(KeysPath(version, roomId, sessionId))).EnsureOk().Json.GetProperty("session_data").GetProperty("ciphertext").GetString()!;

    [Fact]
    public async Task Versions_are_created_read_updated_and_deleted()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var none = await alice.GetAsync("/_matrix/client/v3/room_keys/version");
        none.Status.Should().Be(HttpStatusCode.NotFound);
        none.ErrCode.Should().Be("M_NOT_FOUND");

        var v1 = await CreateVersionAsync(alice, "first");
        var v2 = await CreateVersionAsync(alice, "second");
        v1.Should().Be("1");
        v2.Should().Be("2");

        var current = (await alice.GetAsync("/_matrix/client/v3/room_keys/version")).EnsureOk().Json;
        current.GetProperty("version").GetString().Should().Be(v2);
        current.GetProperty("algorithm").GetString().Should().Be(Algorithm);
        current.GetProperty("auth_data").GetProperty("public_key").GetString().Should().Be("second");
        current.GetProperty("count").GetInt32().Should().Be(0);
        current.GetProperty("etag").ValueKind.Should().Be(JsonValueKind.String);

        var update = VersionBody("updated");
        update["version"] = v1;
        (await alice.PutAsync($"/_matrix/client/v3/room_keys/version/{v1}", update)).EnsureOk();
        (await alice.GetAsync($"/_matrix/client/v3/room_keys/version/{v1}")).EnsureOk().Json.GetProperty("auth_data").GetProperty("public_key").GetString().Should().Be("updated");

        (await alice.DeleteAsync($"/_matrix/client/v3/room_keys/version/{v2}")).EnsureOk();
        (await alice.DeleteAsync($"/_matrix/client/v3/room_keys/version/{v2}")).EnsureOk();
        (await alice.GetAsync($"/_matrix/client/v3/room_keys/version/{v2}")).ErrCode.Should().Be("M_NOT_FOUND");
        (await alice.GetAsync("/_matrix/client/v3/room_keys/version")).EnsureOk().Json.GetProperty("version").GetString().Should().Be(v1);
        (await CreateVersionAsync(alice)).Should().Be("3", "deleted version numbers are not reused");
    }

    public static TheoryData<string, string, string, string> BadVersionRequests => new()
    {
        { "GET", "/_matrix/client/v3/room_keys/version/bogus", string.Empty, "M_NOT_FOUND" },
        { "GET", "/_matrix/client/v3/room_keys/version/99", string.Empty, "M_NOT_FOUND" },
        { "DELETE", "/_matrix/client/v3/room_keys/version/99", string.Empty, "M_NOT_FOUND" },
        { "PUT", "/_matrix/client/v3/room_keys/version/99", "{\"algorithm\": \"" + Algorithm + "\", \"auth_data\": {}}", "M_NOT_FOUND" },
        { "POST", "/_matrix/client/v3/room_keys/version", """{"auth_data": {}}""", "M_MISSING_PARAM" },
        { "POST", "/_matrix/client/v3/room_keys/version", """{"algorithm": 5, "auth_data": {}}""", "M_BAD_JSON" },
        { "POST", "/_matrix/client/v3/room_keys/version", "{\"algorithm\": \"" + Algorithm + "\", \"auth_data\": \"x\"}", "M_BAD_JSON" },
        { "GET", "/_matrix/client/v3/room_keys/keys", string.Empty, "M_MISSING_PARAM" },
    };

    [Theory]
    [MemberData(nameof(BadVersionRequests))]
    public async Task Bad_version_requests_are_refused(string method, string path, string body, string errcode)
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var response = await alice.SendAsync(new HttpMethod(method), path, null, body.Length == 0 ? null : body);
        response.ErrCode.Should().Be(errcode);
        ((int)response.Status).Should().BeInRange(400, 404);
    }

    [Fact]
    public async Task Updating_a_version_keeps_its_algorithm_and_its_number()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var v = await CreateVersionAsync(alice);
        var otherAlgorithm = new JsonObject { ["algorithm"] = "m.other", ["auth_data"] = new JsonObject() };
        (await alice.PutAsync($"/_matrix/client/v3/room_keys/version/{v}", otherAlgorithm)).ErrCode.Should().Be("M_INVALID_PARAM");
        var otherVersion = VersionBody();
        otherVersion["version"] = "42";
        (await alice.PutAsync($"/_matrix/client/v3/room_keys/version/{v}", otherVersion)).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Keys_are_stored_and_read_for_all_rooms_one_room_and_one_session()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var v = await CreateVersionAsync(alice);
        var empty = (await alice.GetAsync(KeysPath(v))).EnsureOk().Json;
        empty.GetProperty("rooms").EnumerateObject().Should().BeEmpty();
        (await alice.GetAsync(KeysPath(v, "!room:x"))).EnsureOk().Json.GetProperty("sessions").EnumerateObject().Should().BeEmpty();
        (await alice.GetAsync(KeysPath(v, "!room:x", "s1"))).ErrCode.Should().Be("M_NOT_FOUND");

        var all = new JsonObject
        {
            ["rooms"] = new JsonObject
            {
                ["!a:x"] = new JsonObject { ["sessions"] = new JsonObject { ["s1"] = Key(0, 0, false, "a1"), ["s2"] = Key(0, 0, false, "a2") } },
            },
        };
        var put = (await alice.PutAsync(KeysPath(v), all)).EnsureOk().Json;
        put.GetProperty("count").GetInt32().Should().Be(2);
        var etag1 = put.GetProperty("etag").GetString();
        var room = (await alice.PutAsync(KeysPath(v, "!b:x"), new JsonObject { ["sessions"] = new JsonObject { ["s3"] = Key(0, 0, false, "b3") } })).EnsureOk().Json;
        room.GetProperty("count").GetInt32().Should().Be(3);
        room.GetProperty("etag").GetString().Should().NotBe(etag1);
        (await alice.PutAsync(KeysPath(v, "!b:x", "s4"), Key(0, 0, false, "b4"))).EnsureOk().Json.GetProperty("count").GetInt32().Should().Be(4);

        var everything = (await alice.GetAsync(KeysPath(v))).EnsureOk().Json.GetProperty("rooms");
        everything.GetProperty("!a:x").GetProperty("sessions").EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["s1", "s2"]);
        everything.GetProperty("!b:x").GetProperty("sessions").EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["s3", "s4"]);
        var oneRoom = (await alice.GetAsync(KeysPath(v, "!b:x"))).EnsureOk().Json;
        oneRoom.GetProperty("sessions").GetProperty("s3").GetProperty("session_data").GetProperty("ciphertext").GetString().Should().Be("b3");
        var session = (await alice.GetAsync(KeysPath(v, "!a:x", "s2"))).EnsureOk().Json;
        session.GetProperty("first_message_index").GetInt32().Should().Be(0);
        session.GetProperty("forwarded_count").GetInt32().Should().Be(0);
        session.GetProperty("is_verified").GetBoolean().Should().BeFalse();

        var info = (await alice.GetAsync($"/_matrix/client/v3/room_keys/version/{v}")).EnsureOk().Json;
        info.GetProperty("count").GetInt32().Should().Be(4);

        var afterSession = (await alice.DeleteAsync(KeysPath(v, "!b:x", "s4"))).EnsureOk().Json;
        afterSession.GetProperty("count").GetInt32().Should().Be(3);
        (await alice.DeleteAsync(KeysPath(v, "!a:x"))).EnsureOk().Json.GetProperty("count").GetInt32().Should().Be(1);
        var afterAll = (await alice.DeleteAsync(KeysPath(v))).EnsureOk().Json;
        afterAll.GetProperty("count").GetInt32().Should().Be(0);
        afterAll.GetProperty("etag").GetString().Should().NotBe(info.GetProperty("etag").GetString());
    }

    [Fact]
    public async Task A_stored_key_is_replaced_only_by_a_better_one()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var v = await CreateVersionAsync(alice);
        async Task PutAsync(long index, long forwarded, bool verified, string data) =>
            (await alice.PutAsync(KeysPath(v, "!r:x", "s"), Key(index, forwarded, verified, data))).EnsureOk();

        await PutAsync(5, 2, false, "first");
        await PutAsync(6, 0, false, "higher index");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("first");
        await PutAsync(5, 3, false, "more forwarded");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("first");
        await PutAsync(5, 1, false, "less forwarded");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("less forwarded");
        await PutAsync(3, 9, false, "lower index");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("lower index");
        await PutAsync(9, 9, true, "verified");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("verified", "a verified key beats an unverified one whatever its index");
        await PutAsync(0, 0, false, "unverified");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("verified");

        var etag = (await alice.GetAsync($"/_matrix/client/v3/room_keys/version/{v}")).EnsureOk().Json.GetProperty("etag").GetString();
        await PutAsync(9, 9, true, "same rank");
        (await alice.GetAsync($"/_matrix/client/v3/room_keys/version/{v}")).EnsureOk().Json.GetProperty("etag").GetString().Should().Be(etag, "nothing changed");
    }

    [Fact]
    public async Task Keys_go_only_into_the_current_version()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var noBackup = await alice.PutAsync(KeysPath("1", "!r:x", "s"), Key(0, 0, false, "x"));
        noBackup.Status.Should().Be(HttpStatusCode.NotFound);
        noBackup.ErrCode.Should().Be("M_NOT_FOUND");

        var old = await CreateVersionAsync(alice);
        var current = await CreateVersionAsync(alice);
        var wrong = await alice.PutAsync(KeysPath(old, "!r:x", "s"), Key(0, 0, false, "x"));
        wrong.Status.Should().Be(HttpStatusCode.Forbidden);
        wrong.ErrCode.Should().Be("M_WRONG_ROOM_KEYS_VERSION");
        wrong.Json.GetProperty("current_version").GetString().Should().Be(current);
        (await alice.PutAsync(KeysPath("77", "!r:x", "s"), Key(0, 0, false, "x"))).ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task Another_users_backup_is_out_of_reach()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var bob = (await server.NewDeviceAsync()).Client;
        var v = await CreateVersionAsync(alice);
        (await alice.PutAsync(KeysPath(v, "!r:x", "s"), Key(0, 0, false, "secret"))).EnsureOk();
        (await bob.GetAsync("/_matrix/client/v3/room_keys/version")).ErrCode.Should().Be("M_NOT_FOUND");
        (await bob.GetAsync(KeysPath(v))).ErrCode.Should().Be("M_NOT_FOUND");
        (await bob.DeleteAsync(KeysPath(v))).ErrCode.Should().Be("M_NOT_FOUND");
        (await StoredCiphertextAsync(alice, v, "!r:x", "s")).Should().Be("secret");
    }

    [Fact]
    public async Task A_deleted_and_recreated_backup_is_empty()
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var v = await CreateVersionAsync(alice);
        (await alice.PutAsync(KeysPath(v, "!r:x", "s"), Key(0, 0, false, "x"))).EnsureOk();
        (await alice.DeleteAsync($"/_matrix/client/v3/room_keys/version/{v}")).EnsureOk();
        var again = await CreateVersionAsync(alice);
        (await alice.GetAsync(KeysPath(again))).EnsureOk().Json.GetProperty("rooms").EnumerateObject().Should().BeEmpty();
    }

    public static TheoryData<string> BadKeys => new()
    {
        """{"first_message_index": 0, "forwarded_count": 0, "is_verified": "no", "session_data": {}}""",
        """{"first_message_index": -1, "forwarded_count": 0, "is_verified": false, "session_data": {}}""",
        """{"first_message_index": 0, "is_verified": false, "session_data": {}}""",
        """{"first_message_index": 0, "forwarded_count": 0, "is_verified": false}""",
        """{"first_message_index": 0.5, "forwarded_count": 0, "is_verified": false, "session_data": {}}""",
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task Malformed_keys_are_bad_json(string key)
    {
        var alice = (await server.NewDeviceAsync()).Client;
        var v = await CreateVersionAsync(alice);
        var response = await alice.SendAsync(HttpMethod.Put, KeysPath(v, "!r:x", "s"), null, key);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be("M_BAD_JSON");
        (await alice.SendAsync(HttpMethod.Put, KeysPath(v), null, """{"rooms": {"!r:x": {"sessions": {"s": """ + key + "}}}}")).ErrCode.Should().Be("M_BAD_JSON");
    }
}
