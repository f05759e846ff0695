// Account registration: user-interactive auth (m.login.dummy) as Element does it, username rules and
// availability, guests, and Synapse's shared-secret admin registration.
// Spec: https://spec.matrix.org/v1.16/client-server-api/#account-registration-and-management
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { rejectsWithMatrixError } from "../lib/assert-matrix.js";
import { request } from "../lib/server.js";
import {
    DEFAULT_PASSWORD,
    anonymousClient,
    clientFor,
    loginClient,
    registerUser,
    registerWithSharedSecret,
    sharedSecretMac,
    uniqueLocalpart,
    userIdOf,
} from "../lib/users.js";

describe("registration with user-interactive auth", () => {
    test("POST /register without auth answers 401 with a session and an m.login.dummy flow", async () => {
        const error = await anonymousClient()
            .registerRequest({ username: uniqueLocalpart(), password: DEFAULT_PASSWORD })
            .then(
                () => assert.fail("registration succeeded without user-interactive auth"),
                (e) => e,
            );
        assert.equal(error.httpStatus, 401, `expected a 401 UIA challenge, got ${error.httpStatus}: ${error.message}`);
        const challenge = error.data;
        assert.equal(typeof challenge?.session, "string", `no UIA session in ${JSON.stringify(challenge)}`);
        assert.ok(Array.isArray(challenge.flows), "flows must be a list");
        assert.ok(
            challenge.flows.some((f) => JSON.stringify(f.stages) === JSON.stringify(["m.login.dummy"])),
            `no flow with exactly [m.login.dummy] in ${JSON.stringify(challenge.flows)}`,
        );
    });

    test("InteractiveAuth completes the dummy stage and the new token works", async () => {
        const username = uniqueLocalpart();
        const response = await registerUser({ username });
        assert.equal(response.user_id, userIdOf(username));
        assert.equal(typeof response.access_token, "string");
        assert.equal(typeof response.device_id, "string");

        const me = await clientFor(response).whoami();
        assert.equal(me.user_id, userIdOf(username));
        assert.equal(me.device_id, response.device_id);
    });

    test("the device_id asked for is the device_id given", async () => {
        const response = await registerUser({ deviceId: "JSREGDEVICE", initialDeviceDisplayName: "js scenarios" });
        assert.equal(response.device_id, "JSREGDEVICE");
        assert.equal((await clientFor(response).whoami()).device_id, "JSREGDEVICE");
    });

    test("capitals in the username are lower-cased", async () => {
        const username = uniqueLocalpart("JS-Upper");
        const response = await registerUser({ username });
        assert.equal(response.user_id, userIdOf(username.toLowerCase()));
    });

    test("inhibit_login registers without logging in", async () => {
        const username = uniqueLocalpart();
        const response = await registerUser({ username, inhibitLogin: true });
        assert.equal(response.user_id, userIdOf(username));
        assert.equal(response.access_token, undefined, "no access token with inhibit_login");
        // The account exists all the same: the password logs in.
        const { response: login } = await loginClient(username);
        assert.equal(login.user_id, userIdOf(username));
    });

    test("a username can be checked for availability, and a taken one is refused with M_USER_IN_USE", async () => {
        const client = anonymousClient();
        const username = uniqueLocalpart();
        assert.equal(await client.isUsernameAvailable(username), true);
        await registerUser({ username });
        assert.equal(await client.isUsernameAvailable(username), false);
        await rejectsWithMatrixError(client.registerRequest({ username, password: DEFAULT_PASSWORD }), "M_USER_IN_USE", 400);
    });

    test("a guest can register with kind=guest and is reported as a guest", async () => {
        const response = await anonymousClient().registerGuest();
        assert.equal(typeof response.access_token, "string");
        const guest = clientFor(response);
        guest.setGuest(true);
        const me = await guest.whoami();
        assert.equal(me.user_id, response.user_id);
        assert.equal(me.is_guest, true);
    });
});

describe("shared-secret registration (Synapse admin API)", () => {
    test("a user created with the shared secret can log in with its password", async () => {
        const username = uniqueLocalpart("shared");
        const created = await registerWithSharedSecret({ username, password: "shared secret pw" });
        assert.equal(created.status, 200, created.text);
        assert.equal(created.json.user_id, userIdOf(username));
        assert.equal(typeof created.json.access_token, "string");

        const { client } = await loginClient(username, "shared secret pw");
        assert.equal((await client.whoami()).user_id, userIdOf(username));
    });

    test("an admin user can be created", async () => {
        const created = await registerWithSharedSecret({ admin: true });
        assert.equal(created.status, 200, created.text);
        assert.equal(typeof created.json.access_token, "string");
    });

    test("a MAC made with the wrong secret is refused with 403 M_FORBIDDEN", async () => {
        const username = uniqueLocalpart("shared");
        const nonce = (await request("GET", "/_synapse/admin/v1/register")).json.nonce;
        const mac = sharedSecretMac({ nonce, username, password: DEFAULT_PASSWORD, admin: false }, "not the secret");
        const refused = await registerWithSharedSecret({ username, nonce, mac });
        assert.equal(refused.status, 403, refused.text);
        assert.equal(refused.json.errcode, "M_FORBIDDEN");
        // And nothing was created.
        assert.equal(await anonymousClient().isUsernameAvailable(username), true);
    });

    test("the MAC covers the admin flag: a notadmin MAC does not create an admin", async () => {
        const username = uniqueLocalpart("shared");
        const nonce = (await request("GET", "/_synapse/admin/v1/register")).json.nonce;
        const mac = sharedSecretMac({ nonce, username, password: DEFAULT_PASSWORD, admin: false });
        const refused = await request("POST", "/_synapse/admin/v1/register", {
            body: { nonce, username, password: DEFAULT_PASSWORD, admin: true, mac },
        });
        assert.equal(refused.status, 403, refused.text);
        assert.equal(refused.json.errcode, "M_FORBIDDEN");
    });

    test("a nonce can be used only once", async () => {
        const nonce = (await request("GET", "/_synapse/admin/v1/register")).json.nonce;
        const first = await registerWithSharedSecret({ nonce });
        assert.equal(first.status, 200, first.text);
        const again = await registerWithSharedSecret({ nonce });
        assert.equal(again.status, 400, again.text);
        assert.equal(typeof again.json.errcode, "string");
    });
});
