namespace Homeserver.Core;

/// <summary>
/// Who is making an authenticated client request: resolved from the access token once per request
/// and passed to the services, which never look at tokens themselves.
/// </summary>
public sealed record Requester(string UserId, string DeviceId, bool IsGuest = false, bool IsAdmin = false, string? AppServiceId = null)
{
    public string Localpart => MatrixId.LocalpartOf(UserId) ?? string.Empty;
}
