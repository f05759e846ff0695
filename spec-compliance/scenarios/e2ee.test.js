// End-to-end encryption. For now only the client side is checked: matrix-js-sdk's Rust crypto (WebAssembly)
// must start under Node.js with an in-memory store, as every E2EE scenario will need. Key upload, key query,
// to-device messages and encrypted rooms come with the server's E2EE endpoints.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { registerClient } from "../lib/users.js";
import { startCrypto } from "../lib/crypto.js";

describe("E2EE client stack", () => {
    test("Rust crypto starts for a freshly registered device and has device keys", async () => {
        const { client } = await registerClient();
        try {
            const crypto = await startCrypto(client);
            assert.match(crypto.getVersion(), /Rust SDK/);
            const keys = await crypto.getOwnDeviceKeys();
            assert.match(keys.ed25519, /^[A-Za-z0-9+/]{43}$/);
            assert.match(keys.curve25519, /^[A-Za-z0-9+/]{43}$/);
        } finally {
            client.stopClient();
        }
    });
});
