using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.E2ee.CrossSigning;
using Homeserver.E2ee.DeviceLists;
using Homeserver.E2ee.Keys;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Key distribution and cross-signing (client-server API, "End-to-End Encryption": "Key management API", "Cross-signing").</summary>
public static class E2eeKeyEndpoints
{
    /// <summary>The UIA stage that guards replacing cross-signing keys.</summary>
    private const string PasswordStage = "m.login.password";

    public static IEndpointRouteBuilder MapE2eeKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/keys/upload", Upload);
        v3.MapPost("/keys/query", Query);
        v3.MapPost("/keys/claim", Claim);
        v3.MapGet("/keys/changes", Changes);

        // Cross-signing came from MSC1756 under /unstable/, which some clients still call.
        foreach (var group in new[] { v3, app.Unstable() })
        {
            group.MapPost("/keys/device_signing/upload", UploadSigningKeys);
            group.MapPost("/keys/signatures/upload", UploadSignatures);
        }

        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/keys/upload — publish the device's identity keys, one-time keys and fallback keys.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysupload
    /// </summary>
    private static async Task<IResult> Upload(HttpContext http, Authed auth, E2eeKeyService keys, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var counts = await keys.UploadAsync(auth.Requester, body, ct);
        return JsonResults.Node(new JsonObject { ["one_time_key_counts"] = CountsJson(counts) });
    }

    /// <summary>
    /// POST /_matrix/client/v3/keys/query — download the device and cross-signing keys of users.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysquery
    /// </summary>
    private static async Task<IResult> Query(HttpContext http, Authed auth, E2eeKeyService keys, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        return JsonResults.Node(await keys.QueryAsync(auth.Requester, body, ct));
    }

    /// <summary>
    /// POST /_matrix/client/v3/keys/claim — claim one-time keys (or fallback keys) to start Olm sessions.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysclaim
    /// </summary>
    private static async Task<IResult> Claim(HttpContext http, Authed auth, E2eeKeyService keys, CancellationToken ct)
    {
        _ = auth;
        var body = await JsonBody.ReadObjectAsync(http);
        return JsonResults.Node(await keys.ClaimAsync(body, ct));
    }

    /// <summary>
    /// GET /_matrix/client/v3/keys/changes?from=&amp;to= — users whose device lists changed between two sync tokens.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3keyschanges
    /// </summary>
    private static async Task<IResult> Changes(HttpContext http, Authed auth, DeviceListService deviceLists, StreamPositions streams, CancellationToken ct)
    {
        var from = ParsePosition(http.Request.Query["from"].ToString(), "from");
        var to = ParsePosition(http.Request.Query["to"].ToString(), "to");
        var changes = await deviceLists.GetChangesAsync(auth.UserId, from, Math.Min(to, streams.Current), ct);
        return JsonResults.Node(new JsonObject
        {
            ["changed"] = new JsonArray(changes.Changed.Select(u => (JsonNode)u).ToArray()),
            ["left"] = new JsonArray(changes.Left.Select(u => (JsonNode)u).ToArray()),
        });
    }

    /// <summary>
    /// POST /_matrix/client/v3/keys/device_signing/upload — publish cross-signing keys. User-interactive auth
    /// (m.login.password) unless this is the first master key or nothing changes.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysdevice_signingupload
    /// </summary>
    private static async Task<IResult> UploadSigningKeys(
        HttpContext http, Authed auth, CrossSigningService crossSigning, UserInteractiveAuth uia, AccountService accounts, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var required = await crossSigning.GetRequiredAuthAsync(auth.UserId, body, ct);
        if (required == CrossSigningUploadAuth.NothingNew)
        {
            return JsonResults.Empty();
        }

        string? session = null;
        if (required == CrossSigningUploadAuth.Required && auth.Requester.AppServiceId is null)
        {
            session = await AccountUia.RequirePasswordAsync(body, "device_signing_upload", auth, uia, accounts, ct);
        }

        await crossSigning.UploadKeysAsync(auth.UserId, body, ct);
        if (session is not null)
        {
            uia.Complete(session);
        }

        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/keys/signatures/upload — publish cross-signing signatures; failures per key.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keyssignaturesupload
    /// </summary>
    private static async Task<IResult> UploadSignatures(HttpContext http, Authed auth, CrossSigningService crossSigning, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        return JsonResults.Node(await crossSigning.UploadSignaturesAsync(auth.UserId, body, ct));
    }

    internal static JsonObject CountsJson(IReadOnlyDictionary<string, int> counts)
    {
        var json = new JsonObject();
        foreach (var (algorithm, count) in counts)
        {
            json[algorithm] = count;
        }

        return json;
    }

    /// <summary>A /sync <c>next_batch</c> token (or a bare stream position token, <c>s&lt;n&gt;</c>) as a stream position.</summary>
    private static long ParsePosition(string text, string name)
    {
        if (text.Length == 0)
        {
            throw MatrixException.MissingParam($"Missing '{name}'");
        }

        if (SyncToken.TryParse(text, out var token))
        {
            return token.Stream;
        }

        if (PaginationToken.TryParse(text, out var pagination) && pagination.Topological is null)
        {
            return pagination.Stream;
        }

        throw MatrixException.InvalidParam($"Invalid '{name}' token");
    }
}
