// Creating users and clients the way real clients do.
import { createHmac, randomBytes } from "node:crypto";
import sdk from "./sdk.js";
import { baseUrl, request, serverName, sharedSecret } from "./server.js";

export const DEFAULT_PASSWORD = "correct horse battery staple";

/** A localpart no other scenario uses (lower case, allowed characters only). */
export function uniqueLocalpart(prefix = "js") {
    return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** The full user ID of a localpart on the server under test. */
export function userIdOf(localpart) {
    return `@${localpart}:${serverName}`;
}

/** A client with no access token, e.g. for registering or logging in. */
export function anonymousClient() {
    return sdk.createClient({ baseUrl });
}

/** A client authenticated with the credentials of a /register or /login response. */
export function clientFor({ user_id: userId, access_token: accessToken, device_id: deviceId }) {
    return sdk.createClient({ baseUrl, userId, accessToken, deviceId });
}

/**
 * Registers through user-interactive auth as Element does: matrix-js-sdk's InteractiveAuth asks for the flows,
 * picks the m.login.dummy stage and completes it. Any other stage fails the registration: we offer only dummy.
 * Returns the /register response ({ user_id, access_token, device_id, ... }).
 */
export async function registerUser({
    username = uniqueLocalpart(),
    password = DEFAULT_PASSWORD,
    deviceId,
    initialDeviceDisplayName,
    inhibitLogin,
} = {}) {
    const client = anonymousClient();
    const params = { username, password };
    if (deviceId !== undefined) params.device_id = deviceId;
    if (initialDeviceDisplayName !== undefined) params.initial_device_display_name = initialDeviceDisplayName;
    if (inhibitLogin !== undefined) params.inhibit_login = inhibitLogin;

    const auth = new sdk.InteractiveAuth({
        matrixClient: client,
        supportedStages: ["m.login.dummy"],
        doRequest: (authDict) => client.registerRequest(authDict ? { ...params, auth: authDict } : params),
        stateUpdated: (stage, status) => {
            throw new Error(`registration asked for stage ${stage} (${JSON.stringify(status)}); only m.login.dummy is expected`);
        },
        requestEmailToken: () => Promise.reject(new Error("no e-mail stage is expected")),
    });
    return await auth.attemptAuth();
}

/** Registers a user and returns { client, userId, password, response }. */
export async function registerClient(options = {}) {
    const password = options.password ?? DEFAULT_PASSWORD;
    const response = await registerUser({ ...options, password });
    return { client: clientFor(response), userId: response.user_id, password, response };
}

/** Synapse's shared-secret MAC: hex HMAC-SHA1 of nonce \0 user \0 password \0 admin|notadmin. */
export function sharedSecretMac({ nonce, username, password, admin }, secret = sharedSecret) {
    return createHmac("sha1", Buffer.from(secret, "utf8"))
        .update([nonce, username, password, admin ? "admin" : "notadmin"].join("\0"), "utf8")
        .digest("hex");
}

/**
 * Registers through Synapse's shared-secret admin API (raw HTTP: no client SDK has this API).
 * Returns the raw response { status, json }; `mac` overrides the computed MAC (to test refusals).
 */
export async function registerWithSharedSecret({ username = uniqueLocalpart("admin"), password = DEFAULT_PASSWORD, admin = false, mac, nonce } = {}) {
    if (nonce === undefined) {
        const got = await request("GET", "/_synapse/admin/v1/register");
        if (got.status !== 200 || typeof got.json?.nonce !== "string") {
            throw new Error(`GET /_synapse/admin/v1/register gave ${got.status}: ${got.text}`);
        }
        nonce = got.json.nonce;
    }
    mac ??= sharedSecretMac({ nonce, username, password, admin });
    return await request("POST", "/_synapse/admin/v1/register", { body: { nonce, username, password, admin, mac } });
}

/** Logs in with m.login.password and an m.id.user identifier; returns { client, response }. */
export async function loginClient(user, password = DEFAULT_PASSWORD, extra = {}) {
    const response = await anonymousClient().loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user },
        password,
        ...extra,
    });
    return { client: clientFor(response), response };
}
