// The foundation of federation: our published signing key and its self-signature, checked with Node's own
// Ed25519 (OpenSSL) and a canonical JSON encoder written from the spec, not with the server's code.
// Spec: https://spec.matrix.org/v1.16/server-server-api/#retrieving-server-keys
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, sign } from "node:crypto";
import { describe, test } from "node:test";
import { canonicalJson } from "../lib/canonical-json.js";
import { request, serverName } from "../lib/server.js";
import { decodeBase64, ed25519PublicKey, signedBytes, verifyJsonSignature } from "../lib/signing.js";

/** Checks one key document as a remote server would; returns its single key ID. */
function checkKeyDocument(doc) {
    assert.equal(doc.server_name, serverName);
    assert.ok(Number.isSafeInteger(doc.valid_until_ts), "valid_until_ts must be an integer");
    assert.ok(doc.valid_until_ts > Date.now(), `valid_until_ts ${doc.valid_until_ts} is in the past`);
    const keyIds = Object.keys(doc.verify_keys ?? {});
    assert.equal(keyIds.length, 1, `expected exactly one verify key, got ${keyIds.join(", ")}`);
    const [keyId] = keyIds;
    assert.match(keyId, /^ed25519:[a-zA-Z0-9_]+$/);
    assert.equal(typeof doc.old_verify_keys, "object");

    const publicKey = ed25519PublicKey(doc.verify_keys[keyId].key);
    assert.ok(verifyJsonSignature(doc, serverName, keyId, publicKey), "the self-signature does not verify");
    return keyId;
}

describe("server signing keys", () => {
    test("GET /_matrix/key/v2/server is signed by the key it publishes", async () => {
        const response = await request("GET", "/_matrix/key/v2/server");
        assert.equal(response.status, 200, response.text);
        const doc = response.json;
        const keyId = checkKeyDocument(doc);

        // The check can fail: any change to the signed content breaks the signature.
        const publicKey = ed25519PublicKey(doc.verify_keys[keyId].key);
        const tampered = { ...doc, valid_until_ts: doc.valid_until_ts + 1 };
        assert.equal(verifyJsonSignature(tampered, serverName, keyId, publicKey), false);
        // ...while `unsigned` is not covered.
        assert.equal(verifyJsonSignature({ ...doc, unsigned: { note: 1 } }, serverName, keyId, publicKey), true);
    });

    test("GET /_matrix/key/v2/server/{keyId} (used by older servers and SyTest) serves the same key", async () => {
        const keyId = checkKeyDocument((await request("GET", "/_matrix/key/v2/server")).json);
        const response = await request("GET", `/_matrix/key/v2/server/${encodeURIComponent(keyId)}`);
        assert.equal(response.status, 200, response.text);
        assert.equal(checkKeyDocument(response.json), keyId);
    });

    test("GET /_matrix/federation/v1/version names the server software", async () => {
        const response = await request("GET", "/_matrix/federation/v1/version");
        assert.equal(response.status, 200, response.text);
        assert.equal(typeof response.json.server?.name, "string");
        assert.equal(typeof response.json.server?.version, "string");
    });
});

describe("the independent verifier itself (spec appendix vectors)", () => {
    // https://spec.matrix.org/v1.16/appendices/#json-signing: seed YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1,
    // key ID ed25519:1, entity "domain".
    const seed = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
    const privateKey = createPrivateKey({
        key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
        format: "der",
        type: "pkcs8",
    });
    const publicKey = createPublicKey(privateKey);

    for (const [object, signature] of [
        [{}, "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"],
        [{ one: 1, two: "Two" }, "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"],
    ]) {
        test(`signs and verifies ${JSON.stringify(object)} as the spec does`, () => {
            const ours = sign(null, signedBytes(object), privateKey).toString("base64").replace(/=+$/, "");
            assert.equal(ours, signature);
            const signed = { ...object, signatures: { domain: { "ed25519:1": signature } } };
            assert.equal(verifyJsonSignature(signed, "domain", "ed25519:1", publicKey), true);
            assert.equal(verifyJsonSignature({ ...signed, extra: true }, "domain", "ed25519:1", publicKey), false);
        });
    }

    test("canonical JSON matches the spec's examples", () => {
        // https://spec.matrix.org/v1.16/appendices/#canonical-json
        const cases = [
            [{}, "{}"],
            [{ one: 1, two: "Two" }, '{"one":1,"two":"Two"}'],
            [{ b: "2", a: "1" }, '{"a":"1","b":"2"}'],
            [{ auth: { success: true, mxid: "@john.doe:example.com", profile: { display_name: "John Doe", three_pids: [{ medium: "email", address: "john.doe@example.org" }, { medium: "msisdn", address: "123456789" }] } } },
                '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}'],
            [{ a: "日本語" }, '{"a":"日本語"}'],
            [{ 本: 2, 日: 1 }, '{"日":1,"本":2}'],
            [{ a: "\u65E5" }, '{"a":"日"}'],
            [{ a: null }, '{"a":null}'],
            [{ a: -0 }, '{"a":0}'],
            [{ "\u{1F600}": 1, "\uFFFD": 2 }, '{"\uFFFD":2,"\u{1F600}":1}'],
        ];
        for (const [input, expected] of cases) {
            assert.equal(canonicalJson(input), expected);
        }
        assert.throws(() => canonicalJson({ a: 1.5 }), TypeError);
    });
});
