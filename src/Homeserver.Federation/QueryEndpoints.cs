using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Federation.Client;
using Homeserver.Http;
using Homeserver.Rooms;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.Federation;

/// <summary>Federation queries (server-server API, "Querying for information").</summary>
public static class QueryEndpoints
{
    public static IEndpointRouteBuilder MapFederationQueryEndpoints(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/_matrix/federation/v1");
        v1.MapGet("/query/directory", QueryDirectory);
        v1.MapGet("/query/profile", QueryProfile);
        return app;
    }

    /// <summary>
    /// GET /_matrix/federation/v1/query/directory — which room one of our aliases points at, and servers to join through.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1querydirectory
    /// </summary>
    private static async Task<IResult> QueryDirectory(HttpContext http, FederationRequest request, RoomDirectory directory, RoomService rooms, HomeserverConfig config, CancellationToken ct)
    {
        var alias = http.Request.Query["room_alias"].ToString();
        if (alias.Length == 0)
        {
            throw MatrixException.MissingParam("Missing room_alias");
        }

        if (MatrixId.ServerOf(alias) != config.ServerName)
        {
            throw MatrixException.NotFound("Room alias not found");
        }

        var local = await directory.GetLocalAsync(alias, ct) ?? throw MatrixException.NotFound("Room alias not found");
        var servers = new List<string> { config.ServerName };
        if (await rooms.FindRoomAsync(local.RoomId, ct) is { } room)
        {
            var head = await rooms.GetHeadAsync(room, ct);
            var memberIds = head.State.Where(kv => kv.Key.Type == EventTypes.Member).Select(kv => kv.Value).ToList();
            foreach (var member in (await rooms.GetEventsAsync(memberIds, ct)).Values.Where(m => m.Membership == Membership.Join))
            {
                if (MatrixId.ServerOf(member.StateKey!) is { } s && !servers.Contains(s))
                {
                    servers.Add(s);
                }
            }
        }

        return JsonResults.Node(new JsonObject
        {
            ["room_id"] = local.RoomId,
            ["servers"] = new JsonArray([.. servers.Select(s => (JsonNode)JsonValue.Create(s))]),
        });
    }

    /// <summary>
    /// GET /_matrix/federation/v1/query/profile — one of our users' display name and avatar.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1queryprofile
    /// </summary>
    private static async Task<IResult> QueryProfile(HttpContext http, FederationRequest request, IProfileLookup profiles, HomeserverConfig config, CancellationToken ct)
    {
        var userId = http.Request.Query["user_id"].ToString();
        var field = http.Request.Query["field"].ToString();
        if (userId.Length == 0)
        {
            throw MatrixException.MissingParam("Missing user_id");
        }

        if (MatrixId.ServerOf(userId) != config.ServerName)
        {
            throw MatrixException.InvalidParam("The user is not on this server");
        }

        var profile = await profiles.GetLocalProfileAsync(userId, ct) ?? throw MatrixException.NotFound("Profile not found");
        var json = new JsonObject();
        if (field is "" or "displayname" && profile.DisplayName is not null)
        {
            json["displayname"] = profile.DisplayName;
        }

        if (field is "" or "avatar_url" && profile.AvatarUrl is not null)
        {
            json["avatar_url"] = profile.AvatarUrl;
        }

        return JsonResults.Node(json);
    }
}

/// <summary>Resolves other servers' room aliases through <c>/query/directory</c>.</summary>
public sealed class RemoteAliasResolver(FederationClient client) : IRemoteAliasResolver
{
    public async Task<(string RoomId, IReadOnlyList<string> Servers)?> QueryAsync(string alias, CancellationToken ct)
    {
        var server = MatrixId.ServerOf(alias)!;
        try
        {
            var answer = await client.GetAsync(server, "/_matrix/federation/v1/query/directory?room_alias=" + Uri.EscapeDataString(alias), ct);
            var roomId = answer.OptionalString("room_id");
            if (roomId is null)
            {
                return null;
            }

            var servers = answer.OptionalStringArray("servers") ?? [server];
            return (roomId, servers);
        }
        catch (FederationException e) when (e.StatusCode == 404)
        {
            return null;
        }
        catch (FederationException e)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Could not ask the alias's server: " + e.Message);
        }
    }
}

/// <summary>
/// Profiles of other servers' users through <c>GET /_matrix/federation/v1/query/profile</c>
/// (https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1queryprofile). A 404 from the user's server
/// is "no such profile"; any other failure is a 502, as Synapse answers when it cannot reach the other server. Only
/// string fields of the answer are believed.
/// </summary>
public sealed class RemoteProfileProvider(IFederationClient client) : Homeserver.Users.IRemoteProfileProvider
{
    public async Task<Homeserver.Users.Profile?> GetProfileAsync(string userId, CancellationToken ct)
    {
        var server = MatrixId.ServerOf(userId) ?? throw MatrixException.InvalidParam("Invalid user id");
        JsonElement answer;
        try
        {
            answer = await client.GetAsync(server, "/_matrix/federation/v1/query/profile?user_id=" + Uri.EscapeDataString(userId), ct, TimeSpan.FromSeconds(30));
        }
        catch (FederationException e) when (e.StatusCode == 404)
        {
            return null;
        }
        catch (FederationException e)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to fetch profile: " + e.Message);
        }

        if (answer.ValueKind != JsonValueKind.Object)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to fetch profile: the user's server answered nonsense");
        }

        static string? Text(JsonElement obj, string name) => obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return new Homeserver.Users.Profile(Text(answer, "displayname"), Text(answer, "avatar_url"));
    }
}
