// E2EE helpers: matrix-js-sdk's Rust crypto (matrix-sdk-crypto-wasm) under Node.js.
// Node has no IndexedDB, so the crypto store is kept in memory (useIndexedDB: false): each client object is a
// new device as far as its keys go, which is what scenarios want.

/** Starts Rust crypto for an authenticated client (it must have userId and deviceId) and returns its CryptoApi. */
export async function startCrypto(client) {
    if (!client.getUserId() || !client.getDeviceId()) {
        throw new Error("startCrypto needs a client created with userId and deviceId");
    }
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    if (!crypto) {
        throw new Error("initRustCrypto finished but the client has no CryptoApi");
    }
    return crypto;
}
