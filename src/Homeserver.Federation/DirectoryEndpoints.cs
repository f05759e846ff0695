using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Federation.Client;
using Homeserver.Http;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.Federation;

/// <summary>The public room directory and the space hierarchy over federation (server-server API, "Public Room Directory", "Spaces").</summary>
public static class DirectoryEndpoints
{
    public static IEndpointRouteBuilder MapFederationDirectoryEndpoints(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/_matrix/federation/v1");
        v1.MapGet("/publicRooms", GetPublicRooms);
        v1.MapPost("/publicRooms", PostPublicRooms);
        v1.MapGet("/hierarchy/{roomId}", GetHierarchy);
        return app;
    }

    /// <summary>
    /// GET /_matrix/federation/v1/publicRooms — our public rooms, for another server (if allow_public_rooms_over_federation).
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1publicrooms
    /// </summary>
    private static async Task<IResult> GetPublicRooms(HttpContext http, FederationRequest request, PublicRoomList list, HomeserverConfig config, CancellationToken ct)
    {
        RequireAllowed(config);
        var query = http.Request.Query;
        int? limit = null;
        if (query["limit"].ToString() is { Length: > 0 } l)
        {
            limit = int.TryParse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : throw MatrixException.InvalidParam("limit must be an integer");
        }

        var since = query["since"].ToString();
        var includeAll = query["include_all_networks"].ToString() == "true";
        var instance = query["third_party_instance_id"].ToString();
        var result = await list.QueryLocalAsync(new PublicRoomsQuery(limit, since.Length == 0 ? null : since, null, null, includeAll, instance.Length == 0 ? null : instance), ct);
        return JsonResults.Node(result);
    }

    /// <summary>
    /// POST /_matrix/federation/v1/publicRooms — our public rooms with a filter, for another server.
    /// https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1publicrooms
    /// </summary>
    private static async Task<IResult> PostPublicRooms(FederationRequest request, PublicRoomList list, HomeserverConfig config, CancellationToken ct)
    {
        RequireAllowed(config);
        var body = request.RequireBody();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("Body must be an object");
        }

        return JsonResults.Node(await list.QueryLocalAsync(PublicRoomsQuery.FromBody(body), ct));
    }

    /// <summary>
    /// GET /_matrix/federation/v1/hierarchy/{roomId} — a space and its children, for another server.
    /// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1hierarchyroomid
    /// </summary>
    private static async Task<IResult> GetHierarchy(HttpContext http, FederationRequest request, SpaceHierarchy hierarchy, string roomId, CancellationToken ct)
    {
        var suggestedOnly = http.Request.Query["suggested_only"].ToString() == "true";
        return JsonResults.Node(await hierarchy.GetForServerAsync(request.Origin, Uri.UnescapeDataString(roomId), suggestedOnly, ct));
    }

    private static void RequireAllowed(HomeserverConfig config)
    {
        if (!config.AllowPublicRoomsOverFederation)
        {
            throw MatrixException.Forbidden("You are not allowed to view the public rooms list of this server");
        }
    }
}

/// <summary>Asks another server for its public rooms (GET without a filter, POST with one).</summary>
public sealed class RemotePublicRooms(FederationClient client) : IRemotePublicRooms
{
    public async Task<JsonObject> QueryAsync(string server, PublicRoomsQuery query, CancellationToken ct)
    {
        try
        {
            JsonElement answer;
            if (query.HasFilter)
            {
                var body = new JsonObject { ["include_all_networks"] = query.IncludeAllNetworks };
                if (query.Limit is { } limit)
                {
                    body["limit"] = limit;
                }

                if (query.Since is not null)
                {
                    body["since"] = query.Since;
                }

                if (query.ThirdPartyInstanceId is not null)
                {
                    body["third_party_instance_id"] = query.ThirdPartyInstanceId;
                }

                var filter = new JsonObject();
                if (query.SearchTerm is not null)
                {
                    filter["generic_search_term"] = query.SearchTerm;
                }

                if (query.RoomTypes is { } types)
                {
                    filter["room_types"] = new JsonArray([.. types.Select(t => t is null ? null : (JsonNode)JsonValue.Create(t))]);
                }

                body["filter"] = filter;
                answer = await client.PostAsync(server, "/_matrix/federation/v1/publicRooms", JsonSerializer.SerializeToElement(body), ct);
            }
            else
            {
                var parts = new List<string>();
                if (query.Limit is { } limit)
                {
                    parts.Add("limit=" + limit.ToString(CultureInfo.InvariantCulture));
                }

                if (query.Since is not null)
                {
                    parts.Add("since=" + Uri.EscapeDataString(query.Since));
                }

                if (query.IncludeAllNetworks)
                {
                    parts.Add("include_all_networks=true");
                }

                if (query.ThirdPartyInstanceId is not null)
                {
                    parts.Add("third_party_instance_id=" + Uri.EscapeDataString(query.ThirdPartyInstanceId));
                }

                answer = await client.GetAsync(server, "/_matrix/federation/v1/publicRooms" + (parts.Count == 0 ? string.Empty : "?" + string.Join('&', parts)), ct);
            }

            if (answer.ValueKind != JsonValueKind.Object || !answer.TryGetProperty("chunk", out var chunk) || chunk.ValueKind != JsonValueKind.Array)
            {
                throw new MatrixException(MatrixErrorCode.Unknown, 502, "The server answered with an invalid room list");
            }

            return JsonNode.Parse(answer.GetRawText())!.AsObject();
        }
        catch (FederationException e)
        {
            throw new MatrixException(MatrixErrorCode.Unknown, 502, "Failed to fetch the room list of " + server + ": " + e.Message);
        }
    }
}
