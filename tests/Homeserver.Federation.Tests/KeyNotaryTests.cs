using System.Text.Json;
using Homeserver.Crypto.KeyRing;
using Homeserver.Federation.Keys;

namespace Homeserver.Federation.Tests;

/// <summary>When the notary asks the origin again, and what it reads from a query.</summary>
public sealed class KeyNotaryTests
{
    private const long Now = 1_000_000;

    private static StoredKeyDocument Doc(string keyId, long validUntil) => new(keyId, "{}", validUntil);

    private static KeyCriteria Keys(params (string KeyId, long? Minimum)[] keys) =>
        new(keys.ToDictionary(k => k.KeyId, k => k.Minimum));

    [Fact]
    public void A_key_without_a_document_is_fetched()
    {
        KeyNotary.NeedsFetch([], Keys(("ed25519:a", 0)), Now).Should().BeTrue();
        KeyNotary.NeedsFetch([Doc("ed25519:b", Now * 2)], Keys(("ed25519:a", null)), Now).Should().BeTrue();
    }

    [Fact]
    public void A_document_not_valid_until_the_time_asked_for_is_fetched_again()
    {
        KeyNotary.NeedsFetch([Doc("ed25519:a", Now - 10)], Keys(("ed25519:a", Now - 10)), Now).Should().BeFalse("an expired key was asked for");
        KeyNotary.NeedsFetch([Doc("ed25519:a", Now - 10)], Keys(("ed25519:a", Now - 9)), Now).Should().BeTrue();
        KeyNotary.NeedsFetch([Doc("ed25519:a", Now - 10)], Keys(("ed25519:a", null)), Now).Should().BeTrue("without a time the key must be valid now");
        KeyNotary.NeedsFetch([Doc("ed25519:a", Now + 10)], Keys(("ed25519:a", null)), Now).Should().BeFalse();
    }

    [Fact]
    public void Without_key_ids_any_document_valid_long_enough_will_do()
    {
        KeyNotary.NeedsFetch([], new KeyCriteria(new Dictionary<string, long?>()), Now).Should().BeTrue();
        KeyNotary.NeedsFetch([Doc("ed25519:a", Now - 1), Doc("ed25519:b", Now + 1)], new KeyCriteria(new Dictionary<string, long?>()), Now).Should().BeFalse();
        KeyNotary.NeedsFetch([Doc("ed25519:b", Now + 1)], new KeyCriteria(new Dictionary<string, long?>(), Now + 2), Now).Should().BeTrue();
    }

    [Fact]
    public void A_query_maps_servers_to_key_ids_and_their_minimum_validity()
    {
        var query = KeyNotary.ParseQuery(JsonDocument.Parse("""
            {"server_keys": {"a.example": {"ed25519:x": {"minimum_valid_until_ts": 5}, "ed25519:y": {}}, "b.example": {}}}
            """).RootElement)!;

        query["a.example"].KeyIds.Should().BeEquivalentTo(new Dictionary<string, long?> { ["ed25519:x"] = 5, ["ed25519:y"] = null });
        query["b.example"].KeyIds.Should().BeEmpty();
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"server_keys": []}""")]
    [InlineData("""{"server_keys": {"a.example": []}}""")]
    [InlineData("""{"server_keys": {"a.example": {"ed25519:x": 1}}}""")]
    [InlineData("""{"server_keys": {"a.example": {"ed25519:x": {"minimum_valid_until_ts": "soon"}}}}""")]
    public void A_malformed_query_is_refused(string json) =>
        KeyNotary.ParseQuery(JsonDocument.Parse(json).RootElement).Should().BeNull();
}
