using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Crypto;

namespace Homeserver.Users;

/// <summary>
/// Checks one stage of user-interactive auth (e.g. <c>m.login.password</c>): true when the stage is
/// completed by this <c>auth</c> dict; throws a <see cref="MatrixException"/> with HTTP status 401 (e.g.
/// M_FORBIDDEN for a wrong password) when it was attempted and failed, which becomes the 401 answer with the
/// flows and the error. Any other exception (e.g. 403 for a password of another user) ends the request.
/// </summary>
public delegate Task<bool> UiaStageCheck(string stage, JsonElement auth, string sessionId, CancellationToken ct);

/// <summary>
/// User-interactive authentication (client-server API, "User-Interactive Authentication API"):
/// sessions, flows, completed stages and params, and the 401 answer that lists them. Used by
/// registration, password change, device deletion, deactivation and cross-signing key upload.
/// Sessions live in memory for <see cref="SessionLifetime"/>; a restart starts the dance again.
/// </summary>
public sealed class UserInteractiveAuth(TimeProvider time)
{
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromMinutes(15);

    private readonly ConcurrentDictionary<string, UiaSession> _sessions = new(StringComparer.Ordinal);

    private sealed class UiaSession(string id, string purpose, long createdTs)
    {
        public string Id { get; } = id;

        public string Purpose { get; } = purpose;

        public long CreatedTs { get; } = createdTs;

        public HashSet<string> Completed { get; } = [];

        /// <summary>What the session is bound to (e.g. the user who started it), so it cannot be reused for someone else.</summary>
        public string? BoundTo { get; set; }

        public Dictionary<string, string> Data { get; } = [];
    }

    /// <summary>
    /// Runs the UIA dance for one request. Returns the session ID once some flow is complete; otherwise throws
    /// the 401 answer (<c>flows</c>, <c>params</c>, <c>session</c>, <c>completed</c>, and the error of a failed stage).
    /// </summary>
    /// <param name="purpose">What the request does (e.g. "register", "delete_devices"); a session cannot be reused for another purpose.</param>
    /// <param name="boundTo">The user the request is for (null for registration).</param>
    /// <param name="onIncomplete">Called with the session ID before the 401 answer is thrown (e.g. to keep a password hash for the next request).</param>
    public async Task<string> AuthenticateAsync(
        JsonElement body,
        string purpose,
        string? boundTo,
        IReadOnlyList<IReadOnlyList<string>> flows,
        IReadOnlyDictionary<string, object?> stageParams,
        UiaStageCheck checkStage,
        CancellationToken ct,
        Func<string, Task>? onIncomplete = null)
    {
        Expire();
        UiaSession? session = null;
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("auth", out var auth) && auth.ValueKind == JsonValueKind.Object)
        {
            if (auth.TryGetProperty("session", out var sid) && sid.ValueKind == JsonValueKind.String)
            {
                if (!_sessions.TryGetValue(sid.GetString()!, out session))
                {
                    throw new MatrixException(MatrixErrorCode.Unknown, 400, "Unknown or expired user-interactive auth session");
                }

                // A session authorises the one operation it was started for (as Synapse, which answers 403 here: the
                // spec does not say): credentials given for deleting one device must not delete another.
                if (session.Purpose != purpose || (session.BoundTo is not null && session.BoundTo != boundTo))
                {
                    throw MatrixException.Forbidden("Requested operation has changed during the user-interactive auth session");
                }
            }
            else
            {
                session = NewSession(purpose);
            }

            session.BoundTo ??= boundTo;
            if (auth.TryGetProperty("type", out var typeEl) && typeEl.ValueKind == JsonValueKind.String)
            {
                var stage = typeEl.GetString()!;
                var allowed = flows.Any(f => f.Contains(stage));
                if (!allowed)
                {
                    throw Challenge(session, flows, stageParams, MatrixErrorCode.Unrecognized, $"Auth type {stage} is not one of the allowed flows");
                }

                bool ok;
                try
                {
                    ok = await checkStage(stage, auth, session.Id, ct);
                }
                catch (MatrixException e) when (e.HttpStatus == 401)
                {
                    if (onIncomplete is not null)
                    {
                        await onIncomplete(session.Id);
                    }

                    throw Challenge(session, flows, stageParams, e.ErrorCode ?? MatrixErrorCode.Forbidden, e.Message);
                }

                if (ok)
                {
                    lock (session.Completed)
                    {
                        session.Completed.Add(stage);
                    }
                }
            }
        }
        else
        {
            session = NewSession(purpose);
            session.BoundTo = boundTo;
        }

        bool complete;
        lock (session.Completed)
        {
            complete = flows.Any(f => f.All(session.Completed.Contains));
        }

        if (complete)
        {
            return session.Id;
        }

        if (onIncomplete is not null)
        {
            await onIncomplete(session.Id);
        }

        throw Challenge(session, flows, stageParams, null, null);
    }

    /// <summary>Removes a session once the request it authorised has succeeded.</summary>
    public void Complete(string sessionId) => _sessions.TryRemove(sessionId, out _);

    /// <summary>Remembers a value for the session (e.g. the registration token used), read back by <see cref="GetData"/>.</summary>
    public void SetData(string sessionId, string key, string value)
    {
        if (_sessions.TryGetValue(sessionId, out var s))
        {
            lock (s.Data)
            {
                s.Data[key] = value;
            }
        }
    }

    public string? GetData(string sessionId, string key)
    {
        if (_sessions.TryGetValue(sessionId, out var s))
        {
            lock (s.Data)
            {
                return s.Data.GetValueOrDefault(key);
            }
        }

        return null;
    }

    private UiaSession NewSession(string purpose)
    {
        var s = new UiaSession(UnpaddedBase64.EncodeUrlSafe(RandomNumberGenerator.GetBytes(18)), purpose, time.GetUtcNow().ToUnixTimeMilliseconds());
        _sessions[s.Id] = s;
        return s;
    }

    private void Expire()
    {
        var cutoff = time.GetUtcNow().ToUnixTimeMilliseconds() - (long)SessionLifetime.TotalMilliseconds;
        foreach (var (id, s) in _sessions)
        {
            if (s.CreatedTs < cutoff)
            {
                _sessions.TryRemove(id, out _);
            }
        }
    }

    private static MatrixException Challenge(UiaSession session, IReadOnlyList<IReadOnlyList<string>> flows, IReadOnlyDictionary<string, object?> stageParams, string? errcode, string? error)
    {
        var extra = new Dictionary<string, object?>
        {
            ["flows"] = flows.Select(f => new Dictionary<string, object?> { ["stages"] = f }).ToList(),
            ["params"] = stageParams,
            ["session"] = session.Id,
        };
        // Listed once the client has attempted a stage (even when none passed, as Synapse answers; SyTest reads it).
        lock (session.Completed)
        {
            if (session.Completed.Count > 0 || errcode is not null)
            {
                extra["completed"] = session.Completed.ToList();
            }
        }

        if (errcode is not null)
        {
            extra["errcode"] = errcode;
            extra["error"] = error;
        }

        return new MatrixException(null, 401, error ?? "User-interactive authentication required", extra);
    }
}
