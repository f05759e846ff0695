using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Account data and room tags (client-server API, "Client Config" and "Room Tagging").</summary>
public static class AccountDataEndpoints
{
    public static IEndpointRouteBuilder MapAccountDataEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapGet("/user/{userId}/account_data/{type}", GetGlobal);
        v3.MapPut("/user/{userId}/account_data/{type}", SetGlobal);
        v3.MapGet("/user/{userId}/rooms/{roomId}/account_data/{type}", GetRoom);
        v3.MapPut("/user/{userId}/rooms/{roomId}/account_data/{type}", SetRoom);
        v3.MapGet("/user/{userId}/rooms/{roomId}/tags", GetTags);
        v3.MapPut("/user/{userId}/rooms/{roomId}/tags/{tag}", PutTag);
        v3.MapDelete("/user/{userId}/rooms/{roomId}/tags/{tag}", DeleteTag);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/user/{userId}/account_data/{type} — one global item; 404 M_NOT_FOUND if absent.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridaccount_datatype
    /// </summary>
    private static async Task<IResult> GetGlobal(string userId, string type, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "get account data");
        return Raw(await accountData.GetAsync(userId, null, type, ct));
    }

    /// <summary>
    /// PUT /_matrix/client/v3/user/{userId}/account_data/{type} — set one global item (405 M_BAD_JSON for server-controlled types).
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridaccount_datatype
    /// </summary>
    private static async Task<IResult> SetGlobal(string userId, string type, HttpContext http, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "add account data");
        var body = await JsonBody.ReadObjectAsync(http);
        await accountData.SetAsync(userId, null, type, body, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type} — one room item; 404 M_NOT_FOUND if absent.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridroomsroomidaccount_datatype
    /// </summary>
    private static async Task<IResult> GetRoom(string userId, string roomId, string type, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "get account data");
        CheckRoomId(roomId);
        return Raw(await accountData.GetAsync(userId, roomId, type, ct));
    }

    /// <summary>
    /// PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type} — set one room item.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridroomsroomidaccount_datatype
    /// </summary>
    private static async Task<IResult> SetRoom(string userId, string roomId, string type, HttpContext http, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "add account data");
        CheckRoomId(roomId);
        var body = await JsonBody.ReadObjectAsync(http);
        await accountData.SetAsync(userId, roomId, type, body, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags — the room's tags.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridroomsroomidtags
    /// </summary>
    private static async Task<IResult> GetTags(string userId, string roomId, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "get tags");
        CheckRoomId(roomId);
        return JsonResults.Node(await accountData.GetTagsAsync(userId, roomId, ct));
    }

    /// <summary>
    /// PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag} — add a tag (stored in the m.tag room account data).
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridroomsroomidtagstag
    /// </summary>
    private static async Task<IResult> PutTag(string userId, string roomId, string tag, HttpContext http, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "add tags");
        CheckRoomId(roomId);
        var body = await JsonBody.ReadObjectAsync(http);
        await accountData.AddTagAsync(userId, roomId, tag, body, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag} — remove a tag.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3useruseridroomsroomidtagstag
    /// </summary>
    private static async Task<IResult> DeleteTag(string userId, string roomId, string tag, Authed auth, AccountDataService accountData, CancellationToken ct)
    {
        Own(auth, userId, "remove tags");
        CheckRoomId(roomId);
        await accountData.RemoveTagAsync(userId, roomId, tag, ct);
        return JsonResults.Empty();
    }

    /// <summary>Account data is private: only its owner reads or writes it (403 M_FORBIDDEN); guests have none, as in Synapse.</summary>
    private static void Own(Authed auth, string userId, string what)
    {
        auth.RequireNonGuest();
        if (userId != auth.UserId)
        {
            throw MatrixException.Forbidden($"Cannot {what} for other users.");
        }
    }

    private static void CheckRoomId(string roomId)
    {
        if (!MatrixId.IsValidRoomId(roomId))
        {
            throw MatrixException.InvalidParam($"{roomId} is not a valid room ID");
        }
    }

    private static IResult Raw(string json) => JsonResults.Raw(System.Text.Encoding.UTF8.GetBytes(json));
}
