using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Homeserver.Core;
using Homeserver.Http;
using Homeserver.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Homeserver.ClientApi;

/// <summary>Password change, deactivation and third-party identifiers (client-server API, "Account registration and management").</summary>
public static partial class AccountEndpoints
{
    private const string NewPasswordHashKey = "new_password_hash";

    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        var v3 = app.V3();
        v3.MapPost("/account/password", ChangePassword);
        v3.MapPost("/account/deactivate", Deactivate);
        v3.MapGet("/account/3pid", GetThreepids);
        v3.MapPost("/account/3pid", AddThreepidDeprecated);
        v3.MapPost("/account/3pid/add", AddThreepid);
        v3.MapPost("/account/3pid/bind", BindThreepid);
        v3.MapPost("/account/3pid/unbind", UnbindThreepid);
        v3.MapPost("/account/3pid/delete", DeleteThreepid);
        v3.MapPost("/account/3pid/email/requestToken", RequestEmailToken);
        v3.MapPost("/account/3pid/msisdn/requestToken", (Delegate)RequestMsisdnToken);
        return app;
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/password — change the password after user-interactive auth with the current one.
    /// <c>logout_devices</c> (default true) logs out every other device.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountpassword
    /// </summary>
    private static async Task<IResult> ChangePassword(
        HttpContext http, Authed auth, AccountService accounts, UserInteractiveAuth uia, CancellationToken ct)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        var newPassword = body.OptionalString("new_password");
        var logoutDevices = body.OptionalBool("logout_devices") ?? true;
        if (newPassword is { Length: > AccountService.MaxPasswordLength })
        {
            throw MatrixException.InvalidParam("Password too long");
        }

        // Like Synapse, a new password sent with an early request of the dance is kept (hashed) for the last one.
        var sessionId = await AccountUia.RequirePasswordAsync(body, "change_password", auth, uia, accounts, ct, async sid =>
        {
            if (newPassword is not null && uia.GetData(sid, NewPasswordHashKey) is null)
            {
                uia.SetData(sid, NewPasswordHashKey, await accounts.HashPasswordAsync(newPassword));
            }
        });

        var hash = newPassword is not null ? await accounts.HashPasswordAsync(newPassword) : uia.GetData(sessionId, NewPasswordHashKey);
        if (hash is null)
        {
            throw MatrixException.MissingParam("Missing params: new_password");
        }

        await accounts.ChangePasswordAsync(auth.UserId, hash, logoutDevices, auth.DeviceId, ct);
        uia.Complete(sessionId);
        return JsonResults.Empty();
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/deactivate — deactivate the account after user-interactive auth; <c>erase</c> also erases the profile.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountdeactivate
    /// </summary>
    private static async Task<IResult> Deactivate(HttpContext http, Authed auth, AccountService accounts, UserInteractiveAuth uia, CancellationToken ct)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http, emptyIsEmptyObject: true);
        var erase = body.OptionalBool("erase") ?? false;
        _ = body.OptionalString("id_server");
        var sessionId = await AccountUia.RequirePasswordAsync(body, "deactivate", auth, uia, accounts, ct);
        await accounts.DeactivateAsync(auth.UserId, erase, ct);
        uia.Complete(sessionId);

        // No identity server was told anything, and none holds a binding made through us: nothing failed to unbind.
        return JsonResults.Node(new JsonObject { ["id_server_unbind_result"] = "success" });
    }

    /// <summary>
    /// GET /_matrix/client/v3/account/3pid — the third-party identifiers bound to the account.
    /// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3account3pid
    /// </summary>
    private static async Task<IResult> GetThreepids(Authed auth, ThreepidService threepids, CancellationToken ct)
    {
        auth.RequireNonGuest();
        return JsonResults.Node(await threepids.ListAsync(auth.UserId, ct));
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid (deprecated) — add a third-party identifier validated by an identity server.
    /// No identity server validates for us, so the credentials cannot be verified: 403 M_THREEPID_AUTH_FAILED, as the spec says.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pid
    /// </summary>
    private static async Task<IResult> AddThreepidDeprecated(HttpContext http, Authed auth, ThreepidService threepids)
    {
        threepids.RequireChangesEnabled();
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        var creds = body.OptionalObject("three_pid_creds") ?? body.OptionalObject("threePidCreds") ?? throw MatrixException.MissingParam("Missing param three_pid_creds");
        CheckClientSecret(creds.RequiredString("client_secret"));
        creds.RequiredString("sid");
        throw ThreepidService.NoValidatedSession(403);
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid/add — add a third-party identifier validated through requestToken, after
    /// user-interactive auth. This server sends no validation emails or texts, so no session is ever validated:
    /// 400 M_THREEPID_AUTH_FAILED, as Synapse answers for an unknown session.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidadd
    /// </summary>
    private static async Task<IResult> AddThreepid(
        HttpContext http, Authed auth, ThreepidService threepids, AccountService accounts, UserInteractiveAuth uia, CancellationToken ct)
    {
        threepids.RequireChangesEnabled();
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        CheckClientSecret(body.RequiredString("client_secret"));
        body.RequiredString("sid");
        await AccountUia.RequirePasswordAsync(body, "3pid_add", auth, uia, accounts, ct);
        throw ThreepidService.NoValidatedSession();
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid/bind — bind a third-party identifier on an identity server. This server
    /// does not contact identity servers, so the credentials cannot be verified: 403 M_THREEPID_AUTH_FAILED.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidbind
    /// </summary>
    private static async Task<IResult> BindThreepid(HttpContext http, Authed auth)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        CheckClientSecret(body.RequiredString("client_secret"));
        body.RequiredString("id_access_token");
        body.RequiredString("id_server");
        body.RequiredString("sid");
        throw new MatrixException(MatrixErrorCode.ThreepidAuthFailed, 403, "This server does not contact identity servers; the binding could not be verified");
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid/unbind — unbind from an identity server. None is contacted: "no-support".
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidunbind
    /// </summary>
    private static async Task<IResult> UnbindThreepid(HttpContext http, Authed auth)
    {
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        ReadMedium(body);
        body.RequiredString("address");
        _ = body.OptionalString("id_server");
        return JsonResults.Node(new JsonObject { ["id_server_unbind_result"] = "no-support" });
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid/delete — remove a third-party identifier from the account.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3piddelete
    /// </summary>
    private static async Task<IResult> DeleteThreepid(HttpContext http, Authed auth, ThreepidService threepids, CancellationToken ct)
    {
        threepids.RequireChangesEnabled();
        auth.RequireNonGuest();
        var body = await JsonBody.ReadObjectAsync(http);
        var medium = ReadMedium(body);
        var address = body.RequiredString("address");
        _ = body.OptionalString("id_server");
        return JsonResults.Node(await threepids.DeleteAsync(auth.UserId, medium, address, ct));
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid/email/requestToken — this server sends no email: 400
    /// M_THREEPID_MEDIUM_NOT_SUPPORTED, as Synapse answers without an email configuration.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidemailrequesttoken
    /// </summary>
    private static IResult RequestEmailToken(ThreepidService threepids)
    {
        threepids.RequireChangesEnabled();
        throw new MatrixException(MatrixErrorCode.ThreepidMediumNotSupported, 400, "Adding an email to your account is disabled on this server");
    }

    /// <summary>
    /// POST /_matrix/client/v3/account/3pid/msisdn/requestToken — no SMS delegate is configured: after checking the
    /// request, 400 M_THREEPID_MEDIUM_NOT_SUPPORTED, as Synapse answers.
    /// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidmsisdnrequesttoken
    /// </summary>
    private static async Task<IResult> RequestMsisdnToken(HttpContext http)
    {
        var body = await JsonBody.ReadObjectAsync(http);
        CheckClientSecret(body.RequiredString("client_secret"));
        body.RequiredString("country");
        body.RequiredString("phone_number");
        if (body.OptionalInt("send_attempt") is null)
        {
            throw MatrixException.MissingParam("Missing 'send_attempt'");
        }

        throw new MatrixException(MatrixErrorCode.ThreepidMediumNotSupported, 400, "Adding phone numbers to user account is not supported by this homeserver");
    }

    private static string ReadMedium(JsonElement body)
    {
        var medium = body.RequiredString("medium");
        return medium is "email" or "msisdn" ? medium : throw MatrixException.InvalidParam("medium must be 'email' or 'msisdn'");
    }

    /// <summary>The spec's client_secret grammar: <c>[0-9a-zA-Z.=_-]</c>, 1 to 255 characters.</summary>
    private static void CheckClientSecret(string secret)
    {
        if (!ClientSecret().IsMatch(secret))
        {
            throw MatrixException.InvalidParam("Invalid client_secret");
        }
    }

    [GeneratedRegex("^[0-9a-zA-Z.=_-]{1,255}$")]
    private static partial Regex ClientSecret();
}
