using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Rooms.Services;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Rooms;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Typing;

/// <summary>
/// <c>m.typing</c> EDUs from other servers (server-server API, "Typing Notifications"): believed only when the user
/// belongs to the sending server and is joined to the room per our current state (which also means we are in the
/// room), from a server the room's server ACL allows; anything else is ignored and logged.
/// </summary>
public sealed partial class TypingEduHandler(TypingService typing, RoomAudience audience, ServerAcls acls, HomeserverConfig config, ILogger<TypingEduHandler> logger) : IEduHandler
{
    public string EduType => EphemeralEdus.Typing;

    public async Task HandleAsync(string origin, JsonElement content, CancellationToken ct)
    {
        if (EphemeralEdus.ParseTyping(content) is not { } edu)
        {
            LogMalformed(origin);
            return;
        }

        var server = MatrixId.ServerOf(edu.UserId);
        if (server != origin || server == config.ServerName)
        {
            LogWrongServer(origin, edu.UserId);
            return;
        }

        if (!await acls.IsAllowedAsync(edu.RoomId, origin, ct))
        {
            LogDeniedByAcl(origin, edu.RoomId);
            return;
        }

        // Joined per our current state, and some of our users are too (else we have left and nobody would see it).
        if (!(await audience.GetJoinedAsync(edu.RoomId, ct)).Contains(edu.UserId) || (await audience.GetLocalJoinedAsync(edu.RoomId, ct)).Count == 0)
        {
            LogNotInRoom(origin, edu.UserId, edu.RoomId);
            return;
        }

        await typing.SetRemoteTypingAsync(edu, ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored a malformed m.typing EDU from {Origin}")]
    private partial void LogMalformed(string origin);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored an m.typing EDU from {Origin} for {UserId}, who is not one of its users")]
    private partial void LogWrongServer(string origin, string userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored an m.typing EDU from {Origin}: the server ACL of {RoomId} denies it")]
    private partial void LogDeniedByAcl(string origin, string roomId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored an m.typing EDU from {Origin}: {UserId} is not joined to {RoomId} here")]
    private partial void LogNotInRoom(string origin, string userId, string roomId);
}
