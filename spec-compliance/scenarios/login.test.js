// Password login, whoami and logout.
// Spec: https://spec.matrix.org/v1.16/client-server-api/#client-authentication
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { rejectsWithMatrixError } from "../lib/assert-matrix.js";
import sdk from "../lib/sdk.js";
import { baseUrl, request } from "../lib/server.js";
import { DEFAULT_PASSWORD, anonymousClient, loginClient, registerUser, uniqueLocalpart, userIdOf } from "../lib/users.js";

describe("password login", () => {
    test("GET /login offers m.login.password", async () => {
        const { flows } = await anonymousClient().loginFlows();
        assert.ok(flows.some((f) => f.type === "m.login.password"), `flows: ${JSON.stringify(flows)}`);
    });

    test("logging in with the full user ID gives a new device and a working token", async () => {
        const registered = await registerUser();
        const { client, response } = await loginClient(registered.user_id);
        assert.equal(response.user_id, registered.user_id);
        assert.notEqual(response.access_token, registered.access_token);
        assert.notEqual(response.device_id, registered.device_id);

        const me = await client.whoami();
        assert.equal(me.user_id, registered.user_id);
        assert.equal(me.device_id, response.device_id);
    });

    test("logging in with just the localpart works", async () => {
        const username = uniqueLocalpart();
        await registerUser({ username });
        const { client, response } = await loginClient(username);
        assert.equal(response.user_id, userIdOf(username));
        assert.equal((await client.whoami()).user_id, userIdOf(username));
    });

    test("the SDK's loginWithPassword (legacy top-level `user`) works", async () => {
        const username = uniqueLocalpart();
        await registerUser({ username });
        const client = anonymousClient();
        const response = await client.loginWithPassword(username, DEFAULT_PASSWORD);
        assert.equal(response.user_id, userIdOf(username));
        // loginWithPassword puts the new token into the same client.
        assert.equal((await client.whoami()).user_id, userIdOf(username));
    });

    test("the device_id asked for at login is the device_id given", async () => {
        const registered = await registerUser();
        const { client, response } = await loginClient(registered.user_id, DEFAULT_PASSWORD, {
            device_id: "JSLOGINDEVICE",
            initial_device_display_name: "js scenarios",
        });
        assert.equal(response.device_id, "JSLOGINDEVICE");
        assert.equal((await client.whoami()).device_id, "JSLOGINDEVICE");
    });

    test("a wrong password is refused with 403 M_FORBIDDEN", async () => {
        const registered = await registerUser();
        await rejectsWithMatrixError(loginClient(registered.user_id, "not the password"), "M_FORBIDDEN", 403);
    });

    test("an unknown user is refused with 403 M_FORBIDDEN", async () => {
        await rejectsWithMatrixError(loginClient(uniqueLocalpart("nobody")), "M_FORBIDDEN", 403);
    });
});

describe("access tokens, whoami and logout", () => {
    test("a request without a token is refused with 401 M_MISSING_TOKEN", async () => {
        const response = await request("GET", "/_matrix/client/v3/account/whoami");
        assert.equal(response.status, 401, response.text);
        assert.equal(response.json.errcode, "M_MISSING_TOKEN");
    });

    test("an unknown token is refused with 401 M_UNKNOWN_TOKEN", async () => {
        const client = sdk.createClient({ baseUrl, accessToken: "not_a_real_token" });
        await rejectsWithMatrixError(client.whoami(), "M_UNKNOWN_TOKEN", 401);
    });

    test("the token can also be sent as ?access_token=", async () => {
        const registered = await registerUser();
        const response = await request("GET", `/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(registered.access_token)}`);
        assert.equal(response.status, 200, response.text);
        assert.equal(response.json.user_id, registered.user_id);
    });

    test("after logout the token is refused, and the user's other sessions keep working", async () => {
        const registered = await registerUser();
        const first = await loginClient(registered.user_id);
        const second = await loginClient(registered.user_id);

        assert.deepEqual(await first.client.logout(), {});
        await rejectsWithMatrixError(first.client.whoami(), "M_UNKNOWN_TOKEN", 401);
        assert.equal((await second.client.whoami()).user_id, registered.user_id);
    });

    test("logout/all refuses every token of the user, and the password still logs in", async () => {
        const registered = await registerUser();
        const first = await loginClient(registered.user_id);
        const second = await loginClient(registered.user_id);

        await first.client.http.authedRequest(sdk.Method.Post, "/logout/all");
        await rejectsWithMatrixError(first.client.whoami(), "M_UNKNOWN_TOKEN", 401);
        await rejectsWithMatrixError(second.client.whoami(), "M_UNKNOWN_TOKEN", 401);

        const again = await loginClient(registered.user_id);
        assert.equal((await again.client.whoami()).user_id, registered.user_id);
    });
});
