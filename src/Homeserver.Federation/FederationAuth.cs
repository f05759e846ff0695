using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Crypto;
using Homeserver.Federation.Keys;
using Homeserver.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Homeserver.Federation;

/// <summary>
/// An authenticated server-server request: bound from the <c>X-Matrix</c> Authorization header by declaring a
/// parameter of this type. The signature over method, URI (exactly as sent), origin, destination and body is
/// checked with the origin's key (server-server API, "Request Authentication"). The parsed body is kept.
/// </summary>
public sealed record FederationRequest(string Origin, JsonElement? Body)
{
    public JsonElement RequireBody() => Body ?? throw MatrixException.NotJson("Content not JSON.");

    public static async ValueTask<FederationRequest?> BindAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var config = services.GetRequiredService<HomeserverConfig>();
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.TrimStart().StartsWith("X-Matrix", StringComparison.OrdinalIgnoreCase))
        {
            throw new MatrixException(MatrixErrorCode.Unauthorized, 401, "Missing X-Matrix Authorization header");
        }

        // An X-Matrix header that cannot be used (unparsable, or an origin that is not a valid server name, such as one
        // with a non-numeric port) is a 400, as Synapse answers.
        if (!XMatrixAuthorization.TryParse(header, out var auth) || auth is null)
        {
            throw new MatrixException(MatrixErrorCode.Unauthorized, 400, "Malformed X-Matrix Authorization header");
        }

        if (auth.Destination is { } destination && destination != config.ServerName)
        {
            throw new MatrixException(MatrixErrorCode.Unauthorized, 401, "Request is not for this server");
        }

        if (!ServerName.IsValid(auth.Origin))
        {
            throw new MatrixException(MatrixErrorCode.Unauthorized, 400, "Invalid origin in the X-Matrix Authorization header");
        }

        if (config.FederationDomainWhitelist is { } whitelist && !whitelist.Contains(auth.Origin))
        {
            throw MatrixException.Forbidden("Federation with this server is not allowed");
        }

        JsonElement? body = null;
        var bytes = await JsonBody.ReadBytesAsync(context, 8 * 1024 * 1024);
        if (bytes.Length > 0)
        {
            if (!System.Text.Unicode.Utf8.IsValid(bytes))
            {
                throw MatrixException.NotJson("Content is not valid UTF-8.");
            }

            try
            {
                using var doc = JsonDocument.Parse(bytes);
                body = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw MatrixException.NotJson("Content not JSON.");
            }
        }

        var key = await services.GetRequiredService<KeyRing>().GetKeyAsync(auth.Origin, auth.KeyId, KeyValidity.Now, context.RequestAborted)
            ?? throw new MatrixException(MatrixErrorCode.Unauthorized, 401, $"Could not find key {auth.KeyId} of {auth.Origin}");
        var uri = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (context.Request.Path + context.Request.QueryString).ToString();
        var result = auth.Verify(context.Request.Method, uri, config.ServerName, body, key.PublicKey);
        if (result != SignatureVerification.Valid)
        {
            throw new MatrixException(MatrixErrorCode.Unauthorized, 401, $"Invalid request signature ({result})");
        }

        // A body's own "origin" is not compared with the signer: many bodies are events, whose origin is the server that
        // created them (a join replayed by another server must reach the membership checks and get their 403), and
        // the handlers only ever trust the authenticated origin.
        return new FederationRequest(auth.Origin, body);
    }
}
