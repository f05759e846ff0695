using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace Homeserver.E2ee.Tests;

/// <summary>How answers of <see cref="IRemoteKeyClient"/> (federation) are merged into /keys/query and /keys/claim.</summary>
public sealed class RemoteKeyQueryTests
{
    private const string Viewer = "@me:hs";

    private sealed class NoLocalKeys : IDeviceKeyStore, ICrossSigningStore
    {
        public List<StoredSignature> Signatures { get; } = [];

        public Task<StoredDeviceKeys?> GetDeviceKeysAsync(string userId, string deviceId, CancellationToken ct) => Task.FromResult<StoredDeviceKeys?>(null);

        public Task<IReadOnlyList<StoredDeviceKeys>> GetDeviceKeysForUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct) => Task.FromResult<IReadOnlyList<StoredDeviceKeys>>([]);

        public Task<IReadOnlyDictionary<string, string>> GetOneTimeKeysAsync(string userId, string deviceId, IReadOnlyCollection<UploadedKey> keys, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

        public Task<bool> SaveAsync(KeyUploadWrite write, CancellationToken ct) => Task.FromResult(true);

        public Task<IReadOnlyDictionary<string, int>> CountOneTimeKeysAsync(string userId, string deviceId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, int>>(new Dictionary<string, int>());

        public Task<IReadOnlyList<string>> GetUnusedFallbackKeyAlgorithmsAsync(string userId, string deviceId, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<IReadOnlyList<ClaimedKey>> ClaimAsync(IReadOnlyList<ClaimRequest> requests, CancellationToken ct) => Task.FromResult<IReadOnlyList<ClaimedKey>>([]);

        public Task<IReadOnlyList<string>> GetDeviceIdsAsync(string userId, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<IReadOnlyList<StoredCrossSigningKey>> GetKeysAsync(IReadOnlyCollection<string> userIds, CancellationToken ct) => Task.FromResult<IReadOnlyList<StoredCrossSigningKey>>([]);

        public Task SaveKeysAsync(string userId, IReadOnlyList<StoredCrossSigningKey> keys, IReadOnlyList<string> droppedSigningKeyIds, IReadOnlyList<string> droppedTargetKeyIds, long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct) =>
            Task.CompletedTask;

        public Task<IReadOnlyList<StoredSignature>> GetSignaturesAsync(IReadOnlyCollection<string> targetUserIds, string viewerUserId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<StoredSignature>>(Signatures.Where(s => targetUserIds.Contains(s.TargetUserId)).ToList());

        public Task SaveSignaturesAsync(IReadOnlyList<StoredSignature> signatures, long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct) => Task.CompletedTask;
    }

    private sealed class FakeRemote(Func<string, JsonObject> answer) : IRemoteKeyClient
    {
        public List<(string Server, IReadOnlyCollection<string> Users)> Queries { get; } = [];

        public Task<JsonObject> QueryKeysAsync(string serverName, IReadOnlyDictionary<string, IReadOnlyList<string>> deviceKeys, TimeSpan timeout, CancellationToken ct)
        {
            lock (Queries)
            {
                Queries.Add((serverName, deviceKeys.Keys.ToList()));
            }

            return Task.FromResult(answer(serverName));
        }

        public Task<JsonObject> ClaimKeysAsync(string serverName, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> oneTimeKeys, TimeSpan timeout, CancellationToken ct) =>
            Task.FromResult(answer(serverName));
    }

    private sealed class NoDeviceLists : IDeviceListStore
    {
        public Task AddChangesAsync(long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct) => Task.CompletedTask;

        public Task<IReadOnlyList<string>> GetChangedUsersAsync(string viewerUserId, long after, long upTo, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<IReadOnlyList<MembershipChange>> GetMembershipChangesAsync(string viewerUserId, long after, long upTo, CancellationToken ct) => Task.FromResult<IReadOnlyList<MembershipChange>>([]);

        public Task<IReadOnlyList<string>> GetJoinedMembersAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<IReadOnlyList<string>> GetUsersSharingRoomAsync(string userId, IReadOnlyCollection<string>? among, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<long> GetLastChangeAsync(string userId, long upTo, CancellationToken ct) => Task.FromResult(0L);

        public Task DeleteDeviceDataAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct) => Task.CompletedTask;
    }

    private static E2eeKeyService Service(NoLocalKeys keys, IRemoteKeyClient? remote)
    {
        var config = new HomeserverConfig
        {
            ServerName = "hs",
            PublicBaseUrl = new Uri("http://localhost/"),
            DataDirectory = "/tmp",
            ConfigDirectory = "/tmp",
            Listeners = [],
            SigningKeyPath = "/tmp/k",
            MediaStorePath = "/tmp/m",
        };
        var streams = new StreamPositions();
        var lists = new DeviceListService(new NoDeviceLists(), streams, new SyncNotifier(streams, config), config, TimeProvider.System, [], NullLogger<DeviceListService>.Instance);
        return new E2eeKeyService(keys, keys, lists, streams, config, new E2eeOptions(), TimeProvider.System, NullLogger<E2eeKeyService>.Instance, remote);
    }

    private static JsonElement Body(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Only_what_was_asked_about_that_servers_users_is_taken_and_junk_does_not_break_the_answer()
    {
        var keys = new NoLocalKeys();
        keys.Signatures.Add(new StoredSignature(Viewer, "ed25519:usk", "@bob:a.example", "bobmaster", "sig-by-me"));
        keys.Signatures.Add(new StoredSignature("@carol:hs", "ed25519:carolusk", "@bob:a.example", "bobmaster", "sig-by-carol"));
        var remote = new FakeRemote(server => JsonNode.Parse("""
            {
              "device_keys": {
                "@bob:SERVER": {"DEV": {"user_id": "@bob:SERVER", "device_id": "DEV"}},
                "@eve:other.example": {"EVIL": {}},
                "@notasked:SERVER": {"X": {}}
              },
              "master_keys": {
                "@bob:SERVER": {"user_id": "@bob:SERVER", "usage": ["master"], "keys": {"ed25519:bobmaster": "bobmaster"}},
                "@junk:SERVER": {"keys": {"ed25519:x": 5}}
              },
              "self_signing_keys": "not an object"
            }
            """.Replace("SERVER", server, StringComparison.Ordinal))!.AsObject());

        var answer = await Service(keys, remote).QueryAsync(new Requester(Viewer, "ME"), Body("""{"device_keys": {"@bob:a.example": [], "@junk:a.example": []}}"""), CancellationToken.None);

        answer["device_keys"]!.AsObject().Select(p => p.Key).Should().Equal("@bob:a.example");
        var master = answer["master_keys"]!["@bob:a.example"]!;
        master["signatures"]![Viewer]!["ed25519:usk"]!.GetValue<string>().Should().Be("sig-by-me");
        master["signatures"]!.AsObject().ContainsKey("@carol:hs").Should().BeFalse("another user's user-signing signature is private to them");
        answer["master_keys"]!.AsObject().ContainsKey("@junk:a.example").Should().BeTrue();
        answer["failures"]!.AsObject().Should().BeEmpty();
        remote.Queries.Should().ContainSingle().Which.Server.Should().Be("a.example");
    }

    [Fact]
    public async Task Each_unreachable_server_is_a_failure_of_its_own()
    {
        var remote = new FakeRemote(server => server == "down.example" ? throw new HttpRequestException("connection refused") : new JsonObject());
        var answer = await Service(new NoLocalKeys(), remote).QueryAsync(
            new Requester(Viewer, "ME"), Body("""{"device_keys": {"@a:down.example": [], "@b:up.example": []}}"""), CancellationToken.None);
        answer["failures"]!.AsObject().Select(p => p.Key).Should().Equal("down.example");
        answer["failures"]!["down.example"]!["status"]!.GetValue<int>().Should().Be(503);

        var claim = await Service(new NoLocalKeys(), remote).ClaimAsync(Body("""{"one_time_keys": {"@a:down.example": {"D": "signed_curve25519"}}}"""), CancellationToken.None);
        claim["failures"]!.AsObject().Select(p => p.Key).Should().Equal("down.example");
    }

    [Fact]
    public async Task Claimed_remote_keys_are_taken_for_the_users_asked_about_only()
    {
        var remote = new FakeRemote(_ => JsonNode.Parse("""
            {"one_time_keys": {"@a:r.example": {"D": {"signed_curve25519:k": {"key": "x"}}}, "@other:r.example": {"D": {}}}}
            """)!.AsObject());
        var claim = await Service(new NoLocalKeys(), remote).ClaimAsync(Body("""{"one_time_keys": {"@a:r.example": {"D": "signed_curve25519"}}}"""), CancellationToken.None);
        claim["one_time_keys"]!.AsObject().Select(p => p.Key).Should().Equal("@a:r.example");
        claim["one_time_keys"]!["@a:r.example"]!["D"]!["signed_curve25519:k"]!["key"]!.GetValue<string>().Should().Be("x");
    }
}
