using System.Text.Json.Nodes;
using Homeserver.Core;
using Homeserver.Core.Configuration;

namespace Homeserver.Users;

/// <summary>
/// Third-party identifiers of an account (client-server spec "Adding Account Administrative Contact Information").
/// This server sends no emails or SMS and talks to no identity server, so adding and binding fail the way Synapse
/// fails without an email configuration or identity server; listing and deleting the stored associations work.
/// </summary>
public sealed class ThreepidService(HomeserverConfig config, IThreepidStore store)
{
    public async Task<JsonObject> ListAsync(string userId, CancellationToken ct)
    {
        var list = new JsonArray();
        foreach (var t in await store.ListAsync(userId, ct))
        {
            list.Add(new JsonObject { ["medium"] = t.Medium, ["address"] = t.Address, ["validated_at"] = t.ValidatedAt, ["added_at"] = t.AddedAt });
        }

        return new JsonObject { ["threepids"] = list };
    }

    /// <summary>400 M_FORBIDDEN when <c>enable_3pid_changes</c> is off (Synapse's answer).</summary>
    public void RequireChangesEnabled()
    {
        if (!config.Accounts.Enable3pidChanges)
        {
            throw new MatrixException(MatrixErrorCode.Forbidden, 400, "3PID changes are disabled on this server");
        }
    }

    /// <summary>Validation sessions are created by requestToken, which this server cannot send: none ever exists.</summary>
    public static MatrixException NoValidatedSession(int status = 400) =>
        new(MatrixErrorCode.ThreepidAuthFailed, status, "No validated 3pid session found");

    /// <summary>Deletes the local association; identity servers are never contacted, so the unbind result is "no-support".</summary>
    public async Task<JsonObject> DeleteAsync(string userId, string medium, string address, CancellationToken ct)
    {
        RequireChangesEnabled();
        await store.DeleteAsync(userId, medium, medium == "email" ? address.Trim().ToLowerInvariant() : address, ct);
        return new JsonObject { ["id_server_unbind_result"] = "no-support" };
    }
}
