using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>
/// Synapse's admin API for registration tokens (<c>/_synapse/admin/v1/registration_tokens</c>), for server admins
/// only. Tokens are <c>{token, uses_allowed, pending, completed, expiry_time}</c>.
/// https://element-hq.github.io/synapse/latest/usage/administration/admin_api/registration_tokens.html
/// </summary>
public static class RegistrationTokenEndpoints
{
    private const string Base = "/_synapse/admin/v1/registration_tokens";

    public static IEndpointRouteBuilder MapRegistrationTokenEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet(Base, List);
        app.MapPost(Base + "/new", Create);
        app.MapGet(Base + "/{token}", Get);
        app.MapPut(Base + "/{token}", Update);
        app.MapDelete(Base + "/{token}", Delete);
        return app;
    }

    /// <summary>GET /_synapse/admin/v1/registration_tokens — every token, or only <c>?valid=true|false</c> ones.</summary>
    private static async Task<IResult> List(HttpContext http, Authed auth, RegistrationTokenService tokens, CancellationToken ct)
    {
        auth.RequireAdmin();
        bool? valid = http.Request.Query["valid"].ToString() switch
        {
            "" => null,
            "true" => true,
            "false" => false,
            _ => throw MatrixException.InvalidParam("valid must be 'true' or 'false'"),
        };
        var list = new JsonArray();
        foreach (var token in await tokens.ListAsync(valid, ct))
        {
            list.Add(ToJson(token));
        }

        return JsonResults.Node(new JsonObject { ["registration_tokens"] = list });
    }

    /// <summary>POST /_synapse/admin/v1/registration_tokens/new — create a token (given, or random of <c>length</c>).</summary>
    private static async Task<IResult> Create(HttpContext http, Authed auth, RegistrationTokenService tokens, CancellationToken ct)
    {
        auth.RequireAdmin();
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var token = body.OptionalString("token");
        var usesAllowed = ReadUsesAllowed(body);
        var expiryTime = ReadExpiryTime(body);
        int? length = null;
        if (body.TryGetProperty("length", out var lengthElement) && lengthElement.ValueKind != JsonValueKind.Null)
        {
            length = lengthElement.ValueKind == JsonValueKind.Number && lengthElement.TryGetInt32(out var n)
                ? n
                : throw MatrixException.InvalidParam("length must be an integer between 1 and 64");
        }

        var created = await tokens.CreateAsync(token, usesAllowed.Value, expiryTime.Value, length, ct);
        return JsonResults.Node(ToJson(created));
    }

    /// <summary>GET /_synapse/admin/v1/registration_tokens/{token} — one token; 404 M_NOT_FOUND if there is none.</summary>
    private static async Task<IResult> Get(string token, Authed auth, RegistrationTokenService tokens, CancellationToken ct)
    {
        auth.RequireAdmin();
        return JsonResults.Node(ToJson(await tokens.GetAsync(token, ct)));
    }

    /// <summary>PUT /_synapse/admin/v1/registration_tokens/{token} — change <c>uses_allowed</c> and/or <c>expiry_time</c> (null removes the limit).</summary>
    private static async Task<IResult> Update(string token, HttpContext http, Authed auth, RegistrationTokenService tokens, CancellationToken ct)
    {
        auth.RequireAdmin();
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var updated = await tokens.UpdateAsync(token, ReadUsesAllowed(body), ReadExpiryTime(body), ct);
        return JsonResults.Node(ToJson(updated));
    }

    /// <summary>DELETE /_synapse/admin/v1/registration_tokens/{token} — delete a token; 404 M_NOT_FOUND if there is none.</summary>
    private static async Task<IResult> Delete(string token, Authed auth, RegistrationTokenService tokens, CancellationToken ct)
    {
        auth.RequireAdmin();
        await tokens.DeleteAsync(token, ct);
        return JsonResults.Empty();
    }

    private static Optional<int?> ReadUsesAllowed(JsonElement body)
    {
        if (!body.TryGetProperty("uses_allowed", out var v))
        {
            return Optional<int?>.Unset;
        }

        return v.ValueKind switch
        {
            JsonValueKind.Null => Optional<int?>.Of(null),
            JsonValueKind.Number when v.TryGetInt32(out var n) && n >= 0 => Optional<int?>.Of(n),
            _ => throw MatrixException.InvalidParam("uses_allowed must be a non-negative integer or null"),
        };
    }

    private static Optional<long?> ReadExpiryTime(JsonElement body)
    {
        if (!body.TryGetProperty("expiry_time", out var v))
        {
            return Optional<long?>.Unset;
        }

        return v.ValueKind switch
        {
            JsonValueKind.Null => Optional<long?>.Of(null),
            JsonValueKind.Number when v.TryGetInt64(out var n) => Optional<long?>.Of(n),
            _ => throw MatrixException.InvalidParam("expiry_time must be an integer or null"),
        };
    }

    private static JsonObject ToJson(RegistrationToken t) => new()
    {
        ["token"] = t.Token,
        ["uses_allowed"] = t.UsesAllowed,
        ["pending"] = t.Pending,
        ["completed"] = t.Completed,
        ["expiry_time"] = t.ExpiryTime,
    };
}
