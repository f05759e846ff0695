// What a client does before logging in: spec versions, .well-known discovery (as Element does when a user types
// a server name), and the CORS answers a browser client needs.
// Spec: https://spec.matrix.org/v1.16/client-server-api/#server-discovery
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import sdk from "../lib/sdk.js";
import { baseUrl, request, serverName } from "../lib/server.js";
import { anonymousClient } from "../lib/users.js";

describe("server discovery", () => {
    test("GET /_matrix/client/versions lists v1.x spec versions", async () => {
        const { versions } = await anonymousClient().getVersions();
        assert.ok(Array.isArray(versions));
        assert.ok(versions.some((v) => /^v1\.\d+$/.test(v)), `versions: ${JSON.stringify(versions)}`);
    });

    describe("AutoDiscovery from the server name", () => {
        // The SDK looks for https://<server name>/.well-known/matrix/client. The test server speaks plain HTTP, so
        // exactly that origin is mapped onto the server's real address; everything else is fetched unchanged.
        const wellKnownOrigin = `https://${serverName}`;
        sdk.AutoDiscovery.setFetchFn((resource, options) => {
            const url = String(resource);
            return fetch(url.startsWith(wellKnownOrigin + "/") ? baseUrl + url.slice(wellKnownOrigin.length) : url, options);
        });
        after(() => sdk.AutoDiscovery.setFetchFn(undefined));

        test("finds a homeserver whose client API answers", async () => {
            const config = await sdk.AutoDiscovery.findClientConfig(serverName);
            const hs = config["m.homeserver"];
            assert.equal(hs.state, sdk.AutoDiscovery.SUCCESS, `discovery failed: ${JSON.stringify(config)}`);
            // public_baseurl is the test server's own address (run.sh sets it), without the trailing slash.
            assert.equal(hs.base_url, baseUrl);
        });
    });

    test("GET /.well-known/matrix/client is JSON with m.homeserver.base_url", async () => {
        const response = await request("GET", "/.well-known/matrix/client");
        assert.equal(response.status, 200, response.text);
        assert.equal(typeof response.json["m.homeserver"]?.base_url, "string");
    });
});

describe("browser clients (CORS)", () => {
    test("a preflight for an authenticated POST is allowed from any origin", async () => {
        const response = await request("OPTIONS", "/_matrix/client/v3/login", {
            headers: {
                Origin: "https://app.element.io",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        });
        assert.ok(response.status === 200 || response.status === 204, `preflight status ${response.status}`);
        assert.equal(response.headers.get("access-control-allow-origin"), "*");
        const methods = (response.headers.get("access-control-allow-methods") ?? "").toUpperCase();
        assert.ok(methods.includes("POST"), `allowed methods: ${methods}`);
        const allowed = (response.headers.get("access-control-allow-headers") ?? "").toLowerCase();
        assert.ok(allowed.includes("authorization") && allowed.includes("content-type"), `allowed headers: ${allowed}`);
    });

    test("responses carry Access-Control-Allow-Origin", async () => {
        const response = await request("GET", "/_matrix/client/versions", { headers: { Origin: "https://app.element.io" } });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("access-control-allow-origin"), "*");
    });
});
