using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Capabilities negotiation (client-server API, "Capabilities negotiation").</summary>
public static class CapabilitiesEndpoints
{
    public static IEndpointRouteBuilder MapCapabilitiesEndpoints(this IEndpointRouteBuilder app)
    {
        app.V3().MapGet("/capabilities", GetCapabilities);
        return app;
    }

    /// <summary>
    /// GET /_matrix/client/v3/capabilities — what this server lets the user do, from the configuration.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3capabilities
    /// </summary>
    private static IResult GetCapabilities(Authed auth, HomeserverConfig config)
    {
        var versions = new JsonObject();
        foreach (var version in RoomVersion.All)
        {
            versions[version.Id] = version.Stable ? "stable" : "unstable";
        }

        static JsonObject Enabled(bool on) => new() { ["enabled"] = on };

        return JsonResults.Node(new JsonObject
        {
            ["capabilities"] = new JsonObject
            {
                ["m.room_versions"] = new JsonObject { ["default"] = config.DefaultRoomVersion, ["available"] = versions },

                // Password accounts can always change their password (guests cannot: they have none).
                ["m.change_password"] = Enabled(!auth.Requester.IsGuest),
                ["m.set_displayname"] = Enabled(config.Accounts.EnableSetDisplayName || auth.Requester.IsAdmin),
                ["m.set_avatar_url"] = Enabled(config.Accounts.EnableSetAvatarUrl || auth.Requester.IsAdmin),
                ["m.3pid_changes"] = Enabled(config.Accounts.Enable3pidChanges),
                ["m.get_login_token"] = Enabled(config.Accounts.LoginViaExistingSession && !auth.Requester.IsGuest),
            },
        });
    }
}
