using System.Text.Json;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Search;
using Homeserver.Rooms.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Server-side search (client-server API, "Server Side Search").</summary>
public static class SearchEndpoints
{
    public static IEndpointRouteBuilder MapSearchEndpoints(this IEndpointRouteBuilder app)
    {
        app.V3().MapPost("/search", Search);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/search — full-text search over the rooms the user is or was in.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3search
    /// </summary>
    private static async Task<IResult> Search(HttpContext http, Authed auth, RoomSearch search, RoomReader reader, TimeProvider time, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        var categories = body.OptionalObject("search_categories") ?? throw MatrixException.MissingParam("Missing search_categories");
        if (categories.OptionalObject("room_events") is not { } roomEvents)
        {
            return JsonResults.Node(new System.Text.Json.Nodes.JsonObject { ["search_categories"] = new System.Text.Json.Nodes.JsonObject() });
        }

        var orderBy = roomEvents.OptionalString("order_by") ?? "rank";
        if (orderBy is not ("rank" or "recent"))
        {
            throw MatrixException.InvalidParam("order_by must be 'rank' or 'recent'");
        }

        var context = roomEvents.OptionalObject("event_context");
        var groupBy = new List<string>();
        if (roomEvents.OptionalObject("groupings") is { } groupings && groupings.OptionalArray("group_by") is { } groups)
        {
            foreach (var group in groups.EnumerateArray())
            {
                var key = group.ValueKind == JsonValueKind.Object ? group.OptionalString("key") : null;
                groupBy.Add(key is "room_id" or "sender" ? key : throw MatrixException.InvalidParam("group_by keys must be 'room_id' or 'sender'"));
            }
        }

        var request = new SearchRequest(
            roomEvents.RequiredString("search_term"),
            roomEvents.OptionalStringArray("keys") ?? [],
            roomEvents.OptionalObject("filter") is { } f ? RoomEventFilter.Parse(f) : RoomEventFilter.All,
            orderBy == "rank",
            context is { } c1 ? (int?)(c1.OptionalInt("before_limit") ?? RoomSearch.DefaultContextLimit) : null,
            context is { } c2 ? (int?)(c2.OptionalInt("after_limit") ?? RoomSearch.DefaultContextLimit) : null,
            context?.OptionalBool("include_profile") ?? false,
            roomEvents.OptionalBool("include_state") ?? false,
            http.Request.Query["next_batch"].ToString() is { Length: > 0 } next ? next : null);
        var outcome = await search.SearchAsync(auth.UserId, request, ct);

        var all = new List<StoredEvent>();
        foreach (var r in outcome.Results)
        {
            all.Add(r.Event);
            all.AddRange(r.Before ?? []);
            all.AddRange(r.After ?? []);
        }

        all.AddRange(outcome.State.Values.SelectMany(s => s));
        var batch = await reader.LoadForClientAsync(all, auth.UserId, ct);
        var options = RoomReadEndpoints.Options(auth, time);
        return RelationEndpoints.Write(w =>
        {
            w.WritePropertyName("search_categories"u8);
            w.WriteStartObject();
            w.WritePropertyName("room_events"u8);
            w.WriteStartObject();
            w.WriteNumber("count"u8, outcome.Count);
            w.WritePropertyName("highlights"u8);
            w.WriteStartArray();
            foreach (var word in outcome.Highlights)
            {
                w.WriteStringValue(word);
            }

            w.WriteEndArray();
            w.WritePropertyName("results"u8);
            w.WriteStartArray();
            foreach (var r in outcome.Results)
            {
                WriteResult(w, batch, r, options);
            }

            w.WriteEndArray();
            if (outcome.NextBatch is not null)
            {
                w.WriteString("next_batch"u8, outcome.NextBatch);
            }

            if (groupBy.Count > 0)
            {
                WriteGroups(w, outcome, groupBy);
            }

            if (request.IncludeState)
            {
                w.WritePropertyName("state"u8);
                w.WriteStartObject();
                foreach (var (roomId, events) in outcome.State)
                {
                    RelationEndpoints.WriteArray(w, System.Text.Encoding.UTF8.GetBytes(roomId), batch, events, options);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static void WriteResult(Utf8JsonWriter w, ClientEventBatch batch, SearchResultItem r, ClientEventOptions options)
    {
        w.WriteStartObject();
        w.WriteNumber("rank"u8, r.Rank);
        w.WritePropertyName("result"u8);
        batch.Write(w, r.Event, options);
        if (r.Before is not null || r.After is not null)
        {
            w.WritePropertyName("context"u8);
            w.WriteStartObject();
            RelationEndpoints.WriteArray(w, "events_before"u8, batch, r.Before ?? [], options);
            RelationEndpoints.WriteArray(w, "events_after"u8, batch, r.After ?? [], options);
            if (r.Start is { } start)
            {
                w.WriteString("start"u8, start.ToString());
            }

            if (r.End is { } end)
            {
                w.WriteString("end"u8, end.ToString());
            }

            if (r.Profiles is { } profiles)
            {
                w.WritePropertyName("profile_info"u8);
                w.WriteStartObject();
                foreach (var (userId, profile) in profiles)
                {
                    w.WritePropertyName(userId);
                    w.WriteStartObject();
                    if (profile.DisplayName is not null)
                    {
                        w.WriteString("displayname"u8, profile.DisplayName);
                    }

                    if (profile.AvatarUrl is not null)
                    {
                        w.WriteString("avatar_url"u8, profile.AvatarUrl);
                    }

                    w.WriteEndObject();
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>groups.room_id / groups.sender: each group's result IDs in ranking order, and the groups' order.</summary>
    private static void WriteGroups(Utf8JsonWriter w, SearchOutcome outcome, List<string> groupBy)
    {
        w.WritePropertyName("groups"u8);
        w.WriteStartObject();
        foreach (var key in groupBy.Distinct())
        {
            w.WritePropertyName(key);
            w.WriteStartObject();
            var order = 0;
            foreach (var group in outcome.Results.GroupBy(r => key == "room_id" ? r.Event.Event.RoomId : r.Event.Event.Sender, StringComparer.Ordinal))
            {
                w.WritePropertyName(group.Key);
                w.WriteStartObject();
                w.WriteNumber("order"u8, order++);
                w.WritePropertyName("results"u8);
                w.WriteStartArray();
                foreach (var r in group)
                {
                    w.WriteStringValue(r.Event.EventId);
                }

                w.WriteEndArray();
                if (outcome.NextBatch is not null)
                {
                    w.WriteString("next_batch"u8, outcome.NextBatch);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }
}
