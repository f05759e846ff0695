using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Users;

/// <summary>
/// Reading who logs in from a login or UIA <c>auth</c> dict ("Identifier types" in the client-server spec):
/// <c>identifier</c> of type <c>m.id.user</c> (full user ID or localpart) or <c>m.id.thirdparty</c>
/// (a bound email or msisdn), or the deprecated top-level <c>user</c> / <c>medium</c>+<c>address</c>.
/// </summary>
public static class LoginIdentifiers
{
    /// <summary>The canonical user ID the dict names; 400 for a malformed or unsupported identifier, 403 for an unknown third-party ID.</summary>
    public static async Task<string> ResolveAsync(JsonElement dict, AccountService accounts, CancellationToken ct)
    {
        if (Field(dict, "identifier") is { } identifier)
        {
            if (identifier.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("'identifier' must be an object");
            }

            var type = String(identifier, "type") ?? throw MatrixException.MissingParam("Missing 'identifier.type'");
            switch (type)
            {
                case "m.id.user":
                    return accounts.CanonicalUserId(String(identifier, "user") ?? throw MatrixException.MissingParam("Missing 'identifier.user'"));
                case "m.id.thirdparty":
                    var medium = String(identifier, "medium") ?? throw MatrixException.MissingParam("Missing 'identifier.medium'");
                    var address = String(identifier, "address") ?? throw MatrixException.MissingParam("Missing 'identifier.address'");
                    return await accounts.FindUserByThreepidAsync(medium, address, ct) ?? throw MatrixException.Forbidden("Invalid username or password");
                default:
                    throw MatrixException.Unknown($"Unknown login identifier type {type}");
            }
        }

        if (String(dict, "user") is { } user)
        {
            return accounts.CanonicalUserId(user);
        }

        if (String(dict, "medium") is { } legacyMedium && String(dict, "address") is { } legacyAddress)
        {
            return await accounts.FindUserByThreepidAsync(legacyMedium, legacyAddress, ct) ?? throw MatrixException.Forbidden("Invalid username or password");
        }

        throw MatrixException.MissingParam("Missing 'identifier'");
    }

    /// <summary>
    /// The <c>m.login.password</c> UIA stage for a request made by <paramref name="expectedUserId"/>: a wrong password
    /// is a failed stage (401 with M_FORBIDDEN in the UIA answer); the password of another account is 403 M_FORBIDDEN.
    /// </summary>
    public static async Task<bool> CheckPasswordStageAsync(JsonElement auth, string expectedUserId, AccountService accounts, CancellationToken ct)
    {
        var password = String(auth, "password") ?? throw MatrixException.MissingParam("Missing 'password'");
        string userId;
        try
        {
            userId = await ResolveAsync(auth, accounts, ct);
        }
        catch (MatrixException e) when (e.ErrorCode == MatrixErrorCode.Forbidden)
        {
            throw new MatrixException(MatrixErrorCode.Forbidden, 401, "Invalid password");
        }

        if (userId != expectedUserId)
        {
            throw MatrixException.Forbidden("Invalid auth");
        }

        try
        {
            await accounts.CheckPasswordAsync(userId, password, ct);
        }
        catch (MatrixException e) when (e.HttpStatus == 403)
        {
            throw new MatrixException(e.ErrorCode, 401, "Invalid password");
        }

        return true;
    }

    /// <summary>A string field of a JSON object: null when absent or null, M_BAD_JSON when of another type.</summary>
    public static string? String(JsonElement obj, string name)
    {
        if (Field(obj, name) is not { } v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw MatrixException.BadJson($"'{name}' must be a string");
    }

    private static JsonElement? Field(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
}
