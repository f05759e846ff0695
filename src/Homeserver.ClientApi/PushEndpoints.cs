using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Push;
using Homeserver.Push.Notifications;
using Homeserver.Push.Pushers;
using Homeserver.Push.Rules;
using Homeserver.Rooms.Client;
using Homeserver.Rooms.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Push rules, pushers and the notifications list (client-server API, "Push Notifications").</summary>
public static class PushEndpoints
{
    public static IEndpointRouteBuilder MapPushEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();

        // The push rule paths are parsed by hand, as Synapse does: trailing slashes are meaningful
        // (GET /pushrules/ is the whole set, GET /pushrules is an error) and rule IDs are free text.
        v3.MapGet("/pushrules", GetRules);
        v3.MapGet("/pushrules/{**rest}", GetRules);
        v3.MapPut("/pushrules", PutRule);
        v3.MapPut("/pushrules/{**rest}", PutRule);
        v3.MapDelete("/pushrules", DeleteRule);
        v3.MapDelete("/pushrules/{**rest}", DeleteRule);

        v3.MapGet("/pushers", GetPushers);
        v3.MapPost("/pushers/set", SetPusher);
        v3.MapGet("/notifications", GetNotifications);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/pushrules/ (and /pushrules/global/, /pushrules/global/{kind}/, /pushrules/global/{kind}/{ruleId}[/enabled|/actions])
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrules
    /// </summary>
    private static async Task<IResult> GetRules(HttpContext http, Authed auth, PushRuleService rules, CancellationToken ct)
    {
        var parts = PathAfterPushRules(http);
        if (parts is null || parts.Count == 0)
        {
            // Synapse has no route for /pushrules without its slash: 404 M_UNRECOGNIZED, where the deeper
            // collection paths without their slash are a 400.
            throw MatrixException.Unrecognized("Unrecognized request: the push rules are at /pushrules/", 404);
        }

        var set = await rules.GetAsync(auth.UserId, ct);
        if (parts is [""])
        {
            return JsonResults.Node(set.ToJson());
        }

        if (parts[0] != "global")
        {
            throw MatrixException.Unrecognized("Unknown push rule scope", 400);
        }

        if (parts.Count == 1)
        {
            throw TrailingSlash();
        }

        if (parts is [_, ""])
        {
            return JsonResults.Node(set.GlobalToJson());
        }

        if (!PushRuleKinds.TryParse(parts[1], out var kind))
        {
            throw MatrixException.Unrecognized("Unknown push rule kind", 400);
        }

        if (parts.Count == 2)
        {
            throw TrailingSlash();
        }

        if (parts is [_, _, ""])
        {
            return JsonResults.Node(set.KindToJson(kind));
        }

        var rule = set.Find(kind, parts[2]) ?? throw MatrixException.NotFound("The push rule was not found.");
        if (parts.Count == 3 || parts[3].Length == 0)
        {
            return JsonResults.Node(rule.ToJson());
        }

        return parts[3] switch
        {
            "enabled" => JsonResults.Node(new JsonObject { ["enabled"] = rule.Enabled }),
            "actions" => JsonResults.Node(new JsonObject { ["actions"] = rule.Actions.DeepClone() }),
            _ => throw MatrixException.Unrecognized("Unknown push rule attribute", 400),
        };
    }

    /// <summary>
    /// PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}[/enabled|/actions] — add or change a rule, enable or disable it, set its actions.
    /// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleid
    /// </summary>
    private static async Task<IResult> PutRule(HttpContext http, Authed auth, PushRuleService rules, CancellationToken ct)
    {
        var (kind, ruleId, attribute) = ParseRulePath(http);
        var body = await JsonBody.ReadObjectAsync(http);
        var userId = auth.UserId;
        switch (attribute)
        {
            case null:
                var query = http.Request.Query;
                var before = query["before"].ToString();
                var after = query["after"].ToString();
                await rules.UpdateAsync(userId, current => PushRuleEdits.Put(current, kind, ruleId, body, before, after), ct);
                break;
            case "enabled":
                await rules.UpdateAsync(userId, current => PushRuleEdits.SetEnabled(current, userId, kind, ruleId, body), ct);
                break;
            case "actions":
                await rules.UpdateAsync(userId, current => PushRuleEdits.SetActions(current, userId, kind, ruleId, body), ct);
                break;
            default:
                throw MatrixException.Unrecognized("Unknown push rule attribute", 400);
        }

        return JsonResults.Empty();
    }

    /// <summary>
    /// DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId} — delete a user-defined rule.
    /// https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3pushrulesglobalkindruleid
    /// </summary>
    private static async Task<IResult> DeleteRule(HttpContext http, Authed auth, PushRuleService rules, CancellationToken ct)
    {
        var (kind, ruleId, attribute) = ParseRulePath(http);
        if (attribute is not null)
        {
            throw MatrixException.Unrecognized("Unrecognized request", 400);
        }

        await rules.UpdateAsync(auth.UserId, current => PushRuleEdits.Delete(current, auth.UserId, kind, ruleId), ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/pushers — the user's pushers.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushers
    /// </summary>
    private static async Task<IResult> GetPushers(Authed auth, PusherService pushers, CancellationToken ct)
    {
        var list = new JsonArray();
        foreach (var p in await pushers.GetAsync(auth.UserId, ct))
        {
            list.Add(new JsonObject
            {
                ["pushkey"] = p.Pushkey,
                ["kind"] = p.Kind,
                ["app_id"] = p.AppId,
                ["app_display_name"] = p.AppDisplayName,
                ["device_display_name"] = p.DeviceDisplayName,
                ["profile_tag"] = p.ProfileTag,
                ["lang"] = p.Lang,
                ["data"] = JsonNode.Parse(p.DataJson),
            });
        }

        return JsonResults.Node(new JsonObject { ["pushers"] = list });
    }

    /// <summary>
    /// POST /_matrix/client/v3/pushers/set — create, update (or with kind null delete) a pusher.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3pushersset
    /// </summary>
    private static async Task<IResult> SetPusher(HttpContext http, Authed auth, PusherService pushers, CancellationToken ct)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        await pushers.SetAsync(auth.Requester, body, ct);
        return JsonResults.Empty();
    }

    /// <summary>
    /// GET /_matrix/client/v3/notifications — events the user was notified about, newest first (from, limit, only=highlight).
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3notifications
    /// </summary>
    private static async Task<IResult> GetNotifications(
        HttpContext http, Authed auth, NotificationCounts notifications, IRoomReadStore reads, ClientEventLoader loader, TimeProvider time, CancellationToken ct)
    {
        var query = http.Request.Query;
        long? from = null;
        if (query["from"].ToString() is { Length: > 0 } fromText)
        {
            from = long.TryParse(fromText, NumberStyles.None, CultureInfo.InvariantCulture, out var f) ? f : throw MatrixException.InvalidParam("Invalid 'from' token");
        }

        var limit = 50;
        if (query["limit"].ToString() is { Length: > 0 } limitText)
        {
            limit = int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 1000) : throw MatrixException.InvalidParam("Invalid 'limit'");
        }

        var onlyHighlight = query["only"].ToString().Contains("highlight", StringComparison.Ordinal);
        var list = await notifications.ListAsync(auth.UserId, from, limit, onlyHighlight, ct);
        var stored = (await reads.GetStoredEventsAsync(list.Select(n => n.Row.EventId).ToList(), ct)).ToDictionary(e => e.EventId, StringComparer.Ordinal);
        var batch = await loader.LoadAsync(stored.Values.ToList(), ct);
        var options = new ClientEventOptions(auth.UserId, auth.DeviceId, time.GetUtcNow().ToUnixTimeMilliseconds(), IncludeRoomId: false);

        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WritePropertyName("notifications"u8);
            w.WriteStartArray();
            foreach (var n in list)
            {
                if (!stored.TryGetValue(n.Row.EventId, out var e))
                {
                    continue;
                }

                w.WriteStartObject();
                w.WritePropertyName("actions"u8);
                w.WriteRawValue(n.Row.ActionsJson, skipInputValidation: true);
                w.WritePropertyName("event"u8);
                batch.Write(w, e, options);
                w.WriteNull("profile_tag"u8);
                w.WriteBoolean("read"u8, n.Read);
                w.WriteString("room_id"u8, n.Row.RoomId);
                w.WriteNumber("ts"u8, n.Row.Ts);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (list.Count == limit)
            {
                w.WriteString("next_token"u8, list[^1].Row.StreamOrdering.ToString(CultureInfo.InvariantCulture));
            }

            w.WriteEndObject();
        }

        return JsonResults.Raw(buffer.WrittenSpan.ToArray());
    }

    private static MatrixException TrailingSlash() =>
        MatrixException.Unrecognized("Push rule paths end with a slash when they name a collection (e.g. /pushrules/)", 400);

    /// <summary>The path segments after <c>/pushrules</c>, percent-decoded one by one from the raw request target; null without a slash after it.</summary>
    private static List<string>? PathAfterPushRules(HttpContext http)
    {
        var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget ?? http.Request.Path.Value ?? string.Empty;
        var q = raw.IndexOf('?', StringComparison.Ordinal);
        if (q >= 0)
        {
            raw = raw[..q];
        }

        var at = raw.IndexOf("/pushrules", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var rest = raw[(at + "/pushrules".Length)..];
        if (rest.Length == 0)
        {
            return [];
        }

        if (rest[0] != '/')
        {
            return null;
        }

        return rest[1..].Split('/').Select(Uri.UnescapeDataString).ToList();
    }

    private static (PushRuleKind Kind, string RuleId, string? Attribute) ParseRulePath(HttpContext http)
    {
        var parts = PathAfterPushRules(http);
        if (parts is null || parts.Count < 3 || parts[0] != "global")
        {
            throw MatrixException.Unrecognized("Push rule paths look like /pushrules/global/{kind}/{ruleId}", 400);
        }

        if (!PushRuleKinds.TryParse(parts[1], out var kind))
        {
            throw MatrixException.Unrecognized("Unknown push rule kind", 400);
        }

        if (parts[2].Length == 0)
        {
            throw MatrixException.Unrecognized("Missing rule ID", 400);
        }

        if (parts.Count > 4)
        {
            // A rule ID with a slash in it (literal or %2F) shows up as extra segments.
            throw MatrixException.InvalidParam("rule_id may not contain slashes");
        }

        var attribute = parts.Count == 4 && parts[3].Length > 0 ? parts[3] : null;
        PushRuleEdits.ValidateRuleId(parts[2]);
        return (kind, parts[2], attribute);
    }
}
