using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Crypto;
using Homeserver.Crypto.KeyRing;
using Homeserver.Federation.Client;
using Homeserver.Federation.Keys;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Homeserver.Federation.Tests;

/// <summary>
/// Which server keys verify what (server-server API "Retrieving server keys"; room versions 5+ "Signing key validity
/// period"): valid_until_ts, the 7-day cap, old_verify_keys and their expiry, and the rooms that do not check.
/// </summary>
public sealed class KeyRingTests : IDisposable
{
    private const string Remote = "remote.example";
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-03-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private sealed class MemoryKeyStore : IServerKeyStore
    {
        private readonly Dictionary<string, ServerVerifyKey> _keys = new(StringComparer.Ordinal);

        public Task<IReadOnlyList<ServerVerifyKey>> GetKeysAsync(string serverName, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<ServerVerifyKey>>(_keys.Values.Where(k => k.ServerName == serverName).ToList());

        public Task StoreAsync(string serverName, IReadOnlyList<ServerVerifyKey> keys, string documentJson, long validUntilTs, long fetchedTs, CancellationToken ct)
        {
            foreach (var k in keys)
            {
                _keys[k.ServerName + "\n" + k.KeyId] = _keys.TryGetValue(k.ServerName + "\n" + k.KeyId, out var old) && old.ValidUntilTs > k.ValidUntilTs ? old : k;
            }

            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<StoredKeyDocument>> GetDocumentsAsync(string serverName, CancellationToken ct) => Task.FromResult<IReadOnlyList<StoredKeyDocument>>([]);
    }

    private readonly FakeTimeProvider _time = new(Start);
    private readonly FakeFederationClient _client = new();
    private readonly Ed25519SigningKey _current = Ed25519SigningKey.Generate("new");
    private readonly Ed25519SigningKey _old = Ed25519SigningKey.Generate("old");
    private readonly Ed25519SigningKey _own = Ed25519SigningKey.Generate("own");

    /// <summary>How long the remote server says its current key is valid, from the time it is asked.</summary>
    private TimeSpan _published = TimeSpan.FromDays(365);

    /// <summary>When the remote server's old key stopped being used.</summary>
    private readonly DateTimeOffset _oldExpired = Start - TimeSpan.FromDays(30);

    private Ed25519SigningKey _signer;

    public KeyRingTests()
    {
        _signer = _current;
        _client.Answer = (method, destination, path, _) => destination == Remote && path == "/_matrix/key/v2/server"
            ? JsonSerializer.SerializeToElement(Document())
            : throw new FederationException("not found", 404);
    }

    public void Dispose()
    {
        _current.Dispose();
        _old.Dispose();
        _own.Dispose();
    }

    private JsonObject Document()
    {
        var doc = new JsonObject
        {
            ["server_name"] = Remote,
            ["valid_until_ts"] = (_time.GetUtcNow() + _published).ToUnixTimeMilliseconds(),
            ["verify_keys"] = new JsonObject { [_current.KeyId] = new JsonObject { ["key"] = _current.PublicKeyBase64 } },
            ["old_verify_keys"] = new JsonObject
            {
                [_old.KeyId] = new JsonObject { ["key"] = _old.PublicKeyBase64, ["expired_ts"] = _oldExpired.ToUnixTimeMilliseconds() },
            },
        };
        JsonSigning.SignInPlace(doc, Remote, _signer);
        return doc;
    }

    private KeyRing Ring() => new(
        TestConfig.Create(), new ServerKeys(TestConfig.Us, _own, [], TimeSpan.FromDays(1)), new MemoryKeyStore(), _client, _time, NullLogger<KeyRing>.Instance);

    private int Fetches => _client.Requests.Count(r => r.Path == "/_matrix/key/v2/server");

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    [Fact]
    public async Task A_key_published_as_valid_for_a_year_counts_as_valid_for_seven_days_from_when_it_was_fetched()
    {
        var ring = Ring();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.At(Ms(Start + TimeSpan.FromDays(6))), CancellationToken.None)).Should().NotBeNull();
        Fetches.Should().Be(1);

        // An event from 8 days on: the key is fetched again, but a week from now is still the limit.
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.At(Ms(Start + TimeSpan.FromDays(8))), CancellationToken.None)).Should().BeNull();
        Fetches.Should().Be(2);

        // Two days later the fetched document reaches further.
        _time.Advance(TimeSpan.FromDays(2));
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.At(Ms(Start + TimeSpan.FromDays(8))), CancellationToken.None)).Should().NotBeNull();
        Fetches.Should().Be(3);
    }

    [Fact]
    public async Task A_short_valid_until_ts_is_respected()
    {
        _published = TimeSpan.FromHours(1);
        var ring = Ring();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.At(Ms(Start + TimeSpan.FromMinutes(30))), CancellationToken.None)).Should().NotBeNull();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.At(Ms(Start + TimeSpan.FromHours(2))), CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task An_old_key_verifies_events_from_before_it_expired_in_room_versions_5_and_later()
    {
        var ring = Ring();
        (await ring.GetKeyAsync(Remote, _old.KeyId, KeyValidity.ForEvent(RoomVersion.V10, Ms(_oldExpired - TimeSpan.FromDays(1))), CancellationToken.None)).Should().NotBeNull();
        (await ring.GetKeyAsync(Remote, _old.KeyId, KeyValidity.ForEvent(RoomVersion.V10, Ms(_oldExpired + TimeSpan.FromMinutes(1))), CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task Room_versions_1_to_4_accept_any_key_the_server_published_whatever_its_validity()
    {
        _published = TimeSpan.FromHours(1);
        var ring = Ring();
        var muchLater = Ms(Start + TimeSpan.FromDays(400));
        (await ring.GetKeyAsync(Remote, _old.KeyId, KeyValidity.ForEvent(RoomVersion.V4, muchLater), CancellationToken.None)).Should().NotBeNull();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.ForEvent(RoomVersion.V1, muchLater), CancellationToken.None)).Should().NotBeNull();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.ForEvent(RoomVersion.V5, muchLater), CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task Requests_must_be_signed_with_a_current_key_never_an_old_one()
    {
        var ring = Ring();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.Now, CancellationToken.None)).Should().NotBeNull();
        (await ring.GetKeyAsync(Remote, _old.KeyId, KeyValidity.Now, CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task A_current_key_past_its_validity_is_fetched_again_before_it_is_used()
    {
        _published = TimeSpan.FromHours(1);
        var ring = Ring();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.Now, CancellationToken.None)).Should().NotBeNull();
        _time.Advance(TimeSpan.FromHours(2));
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.Now, CancellationToken.None)).Should().NotBeNull();
        Fetches.Should().Be(2);
    }

    [Fact]
    public async Task A_document_not_signed_by_its_own_current_key_is_not_believed()
    {
        _signer = _old;
        var ring = Ring();
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.Now, CancellationToken.None)).Should().BeNull();
        (await ring.GetKeyAsync(Remote, _old.KeyId, KeyValidity.AnyTimeAtAll, CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task A_document_with_a_valid_until_ts_that_is_not_a_number_is_not_believed()
    {
        _client.Answer = (_, _, _, _) =>
        {
            var doc = Document();
            doc.Remove("signatures");
            doc["valid_until_ts"] = "soon";
            JsonSigning.SignInPlace(doc, Remote, _current);
            return JsonSerializer.SerializeToElement(doc);
        };
        (await Ring().GetKeyAsync(Remote, _current.KeyId, KeyValidity.Now, CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task When_the_server_cannot_be_reached_a_notary_is_asked_with_the_key_and_the_time_it_must_be_valid_until()
    {
        _client.Answer = (method, destination, path, body) =>
        {
            if (destination == "notary.example" && path == "/_matrix/key/v2/query")
            {
                return JsonSerializer.SerializeToElement(new JsonObject { ["server_keys"] = new JsonArray(Document()) });
            }

            throw new FederationException("connection refused");
        };
        var config = TestConfig.Create() with { TrustedKeyServers = [new Homeserver.Core.Configuration.TrustedKeyServer("notary.example", new Dictionary<string, string>())] };
        var ring = new KeyRing(config, new ServerKeys(TestConfig.Us, _own, [], TimeSpan.FromDays(1)), new MemoryKeyStore(), _client, _time, NullLogger<KeyRing>.Instance);

        var eventTs = Ms(Start - TimeSpan.FromHours(1));
        (await ring.GetKeyAsync(Remote, _current.KeyId, KeyValidity.At(eventTs), CancellationToken.None)).Should().NotBeNull();
        var query = _client.Requests.Single(r => r.Destination == "notary.example").Body!.Value;
        query.GetProperty("server_keys").GetProperty(Remote).GetProperty(_current.KeyId).GetProperty("minimum_valid_until_ts").GetInt64().Should().Be(eventTs);
    }

    [Fact]
    public async Task Signed_json_verifies_only_with_an_acceptable_key()
    {
        var ring = Ring();
        var signedByOld = new JsonObject { ["hello"] = "world" };
        JsonSigning.SignInPlace(signedByOld, Remote, _old);
        var element = JsonSerializer.SerializeToElement(signedByOld);
        (await ring.VerifyJsonAsync(element, Remote, KeyValidity.AnyTimeAtAll, CancellationToken.None)).Should().BeTrue();
        (await ring.VerifyJsonAsync(element, Remote, KeyValidity.Now, CancellationToken.None)).Should().BeFalse();

        signedByOld["hello"] = "tampered";
        (await ring.VerifyJsonAsync(JsonSerializer.SerializeToElement(signedByOld), Remote, KeyValidity.AnyTimeAtAll, CancellationToken.None)).Should().BeFalse();
    }

    [Fact]
    public void The_seven_day_cap_is_the_lesser_of_valid_until_and_a_week_after_fetching()
    {
        KeyValidityRules.CappedValidUntil(1_000, 0).Should().Be(1_000);
        KeyValidityRules.CappedValidUntil(long.MaxValue, 5_000).Should().Be(5_000 + 7L * 24 * 3600 * 1000);
        var kept = KeyValidityRules.AsKept([new ServerVerifyKey(Remote, "ed25519:a", new byte[32], long.MaxValue, null), new ServerVerifyKey(Remote, "ed25519:b", new byte[32], 42, 42)], 0);
        kept[0].ValidUntilTs.Should().Be(7L * 24 * 3600 * 1000);
        kept[1].ValidUntilTs.Should().Be(42, "an old key is valid until it expired, whatever the cap");
    }
}
