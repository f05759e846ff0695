// The homeserver under test, as run.sh describes it in the environment.
//   HS_BASE_URL        e.g. http://127.0.0.1:38123 (no trailing slash)
//   HS_SERVER_NAME     e.g. localhost:38123 (the domain of user IDs)
//   HS_SHARED_SECRET   registration_shared_secret of its configuration

function required(name) {
    const value = process.env[name];
    if (!value) {
        throw new Error(`${name} is not set: run the scenarios through spec-compliance/run.sh, which starts a server`);
    }
    return value;
}

export const baseUrl = required("HS_BASE_URL").replace(/\/+$/, "");
export const serverName = required("HS_SERVER_NAME");
export const sharedSecret = required("HS_SHARED_SECRET");

/**
 * A raw HTTP request, for what a client SDK does not do (server keys, Synapse's admin API) and for checking
 * exact wire behaviour. Returns { status, headers, json, text }; json is undefined unless the body is JSON.
 */
export async function request(method, path, { body, accessToken, headers = {} } = {}) {
    const init = { method, headers: { ...headers } };
    if (accessToken) {
        init.headers.Authorization = `Bearer ${accessToken}`;
    }
    if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch(baseUrl + path, init);
    const text = await response.text();
    let json;
    if ((response.headers.get("content-type") ?? "").startsWith("application/json") && text.length > 0) {
        json = JSON.parse(text);
    }
    return { status: response.status, headers: response.headers, json, text };
}
