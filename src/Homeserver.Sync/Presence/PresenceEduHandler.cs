using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Sync.Federation;
using Microsoft.Extensions.Logging;

namespace Homeserver.Sync.Presence;

/// <summary>
/// <c>m.presence</c> EDUs from other servers (server-server API, "Presence"). Each update is checked on its own: the
/// user must belong to the sending server and share a room with one of our users (the only users we are interested
/// in, and so the table cannot be filled with strangers); the rest is ignored and logged. Accepted updates are kept
/// like local presence and shown only to our users who share a room with them.
/// </summary>
public sealed partial class PresenceEduHandler(PresenceService presence, IPresenceStore store, HomeserverConfig config, ILogger<PresenceEduHandler> logger) : IEduHandler
{
    public string EduType => EphemeralEdus.Presence;

    public async Task HandleAsync(string origin, JsonElement content, CancellationToken ct)
    {
        var updates = EphemeralEdus.ParsePresence(content, out var skipped);
        if (skipped > 0)
        {
            LogMalformed(origin, skipped);
        }

        var theirs = new List<PresenceEdu>(updates.Count);
        foreach (var update in updates)
        {
            var server = MatrixId.ServerOf(update.UserId);
            if (server != origin || server == config.ServerName)
            {
                LogWrongServer(origin, update.UserId);
                continue;
            }

            theirs.Add(update);
        }

        if (theirs.Count == 0)
        {
            return;
        }

        var shared = new HashSet<string>(
            await store.FilterUsersSharingRoomWithServerAsync(theirs.Select(u => u.UserId).Distinct().ToList(), config.ServerName, ct),
            StringComparer.Ordinal);
        foreach (var update in theirs)
        {
            if (!shared.Contains(update.UserId))
            {
                LogNoSharedRoom(origin, update.UserId);
                continue;
            }

            await presence.ApplyRemoteAsync(update, ct);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored {Count} malformed entries of an m.presence EDU from {Origin}")]
    private partial void LogMalformed(string origin, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignored presence from {Origin} for {UserId}, who is not one of its users")]
    private partial void LogWrongServer(string origin, string userId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored presence from {Origin} for {UserId}, who shares no room with our users")]
    private partial void LogNoSharedRoom(string origin, string userId);
}
