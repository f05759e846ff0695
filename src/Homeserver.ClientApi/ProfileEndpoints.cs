using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Profiles: display name and avatar URL (client-server API, "Profiles").</summary>
public static class ProfileEndpoints
{
    public static IEndpointRouteBuilder MapProfileEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/profile/{userId}", GetProfile);
        v3.MapGet("/profile/{userId}/{field:regex(^(displayname|avatar_url)$)}", GetField);
        v3.MapPut("/profile/{userId}/{field:regex(^(displayname|avatar_url)$)}", SetField);
        v3.MapDelete("/profile/{userId}/{field:regex(^(displayname|avatar_url)$)}", DeleteField);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/profile/{userId} — a user's display name and avatar; 404 M_NOT_FOUND for an unknown user.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3profileuserid
    /// </summary>
    private static async Task<IResult> GetProfile(string userId, ProfileService profiles, CancellationToken ct)
    {
        var profile = await profiles.GetProfileAsync(userId, ct);
        var json = new JsonObject();
        if (profile.DisplayName is not null)
        {
            json["displayname"] = profile.DisplayName;
        }

        if (profile.AvatarUrl is not null)
        {
            json["avatar_url"] = profile.AvatarUrl;
        }

        return JsonResults.Node(json);
    }

    /// <summary>
    /// GET /_matrix/client/v3/profile/{userId}/{keyName} — one field; 404 M_NOT_FOUND if the user or the field does not exist.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3profileuseridkeyname
    /// </summary>
    private static async Task<IResult> GetField(string userId, string field, ProfileService profiles, CancellationToken ct)
    {
        var profile = await profiles.GetProfileAsync(userId, ct);
        var value = field == "displayname" ? profile.DisplayName : profile.AvatarUrl;
        return value is null
            ? throw MatrixException.NotFound($"The user has no {field}")
            : JsonResults.Node(new JsonObject { [field] = value });
    }

    /// <summary>
    /// PUT /_matrix/client/v3/profile/{userId}/{keyName} — set your own display name or avatar URL (403 for another user).
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3profileuseridkeyname
    /// </summary>
    private static async Task<IResult> SetField(string userId, string field, HttpContext http, Authed auth, ProfileService profiles, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        if (!body.TryGetProperty(field, out var valueElement))
        {
            throw MatrixException.MissingParam($"Missing key '{field}'");
        }

        var value = valueElement.ValueKind == JsonValueKind.String ? valueElement.GetString() : throw MatrixException.BadJson($"'{field}' must be a string");
        await Set(field, userId, value, auth, profiles, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/profile/{userId}/{keyName} — remove your own display name or avatar URL.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3profileuseridkeyname
    /// </summary>
    private static async Task<IResult> DeleteField(string userId, string field, Authed auth, ProfileService profiles, CancellationToken ct)
    {
        await Set(field, userId, null, auth, profiles, ct);
        return JsonResults.Empty();
    }

    private static Task Set(string field, string userId, string? value, Authed auth, ProfileService profiles, CancellationToken ct)
    {
        // Guests may set their display name (as in Synapse), not their avatar.
        if (field == "displayname")
        {
            return profiles.SetDisplayNameAsync(auth.Requester, userId, value, ct);
        }

        auth.RequireNonGuest();
        return profiles.SetAvatarUrlAsync(auth.Requester, userId, value, ct);
    }
}
