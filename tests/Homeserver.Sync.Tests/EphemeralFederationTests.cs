using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using Homeserver.Core;
using Homeserver.Core.Configuration;
using Homeserver.Core.Federation;
using Homeserver.Core.Streams;
using Homeserver.Rooms;
using Homeserver.Rooms.Persistence;
using Homeserver.Sync.Federation;
using Homeserver.Sync.Presence;
using Homeserver.Sync.Rooms;
using Homeserver.Sync.Typing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Homeserver.Sync.Tests;

/// <summary>
/// The timers of typing and presence across servers, with time under the test's control: remote typing lasts 60 s
/// unless repeated, local typing is repeated every 40 s and its end is sent, presence is repeated every 25 minutes
/// and a silent server's users go offline after 30 minutes.
/// </summary>
public sealed class EphemeralFederationTests
{
    private const string Ours = "ours.example";
    private const string RoomId = "!room:ours.example";
    private const string Alice = "@alice:ours.example";
    private const string Bob = "@bob:remote.example";

    private readonly ManualTime _time = new();
    private readonly RecordingEduSender _edus = new();
    private readonly FakePresenceStore _presenceStore = new();
    private readonly TypingService _typing;
    private readonly PresenceService _presence;

    public EphemeralFederationTests()
    {
        var config = new HomeserverConfig
        {
            ServerName = Ours,
            PublicBaseUrl = new Uri("https://ours.example/"),
            DataDirectory = "/nonexistent",
            ConfigDirectory = "/nonexistent",
            Listeners = [],
            SigningKeyPath = "/nonexistent",
            MediaStorePath = "/nonexistent",
        };
        var rooms = Fake<IRoomStore>.Create(("GetRoomAsync", _ => Task.FromResult<RoomRecord?>(new RoomRecord(1, RoomId, RoomVersion.V10))));
        var reads = Fake<IRoomReadStore>.Create(("GetMembersAsync", _ => Task.FromResult<IReadOnlyList<RoomMember>>(
            [new RoomMember(Alice, Membership.Join, "$a"), new RoomMember(Bob, Membership.Join, "$b"), new RoomMember("@carol:left.example", Membership.Leave, "$c")])));
        var audience = new RoomAudience(rooms, reads, config);
        var streams = new StreamPositions();
        var notifier = new SyncNotifier(streams, config);
        _presence = new PresenceService(_presenceStore, streams, notifier, audience, _edus, _time, config, NullLogger<PresenceService>.Instance);
        _typing = new TypingService(audience, _presence, notifier, _edus, _time, NullLogger<TypingService>.Instance);
    }

    private static Requester AliceDevice => new(Alice, "DEVICE");

    private List<JsonElement> Sent(string eduType, string destination) =>
        _edus.Sent.Where(s => s.EduType == eduType && s.Destinations.Contains(destination)).Select(s => s.Content).ToList();

    [Fact]
    public async Task A_remote_users_typing_ends_after_sixty_seconds_unless_their_server_repeats_it()
    {
        await _typing.SetRemoteTypingAsync(new TypingEdu(RoomId, Bob, true), CancellationToken.None);
        _typing.GetTyping(RoomId).Should().Equal(Bob);

        _time.Advance(TimeSpan.FromSeconds(50));
        _typing.GetTyping(RoomId).Should().Equal(Bob);
        await _typing.SetRemoteTypingAsync(new TypingEdu(RoomId, Bob, true), CancellationToken.None);

        _time.Advance(TimeSpan.FromSeconds(59));
        _typing.GetTyping(RoomId).Should().Equal(new[] { Bob }, "the repeat restarted the 60 s");
        _time.Advance(TimeSpan.FromSeconds(2));
        _typing.GetTyping(RoomId).Should().BeEmpty();
        _edus.Sent.Should().NotContain(s => s.EduType == EphemeralEdus.Typing, "another server's user's typing is not ours to send");
    }

    [Fact]
    public async Task A_change_after_the_answers_position_is_left_to_the_next_answer()
    {
        var before = _typing.Current;
        await _typing.SetRemoteTypingAsync(new TypingEdu(RoomId, Bob, true), CancellationToken.None);
        var upTo = _typing.Current;
        await _typing.SetRemoteTypingAsync(new TypingEdu(RoomId, Bob, false), CancellationToken.None);

        // An answer whose position was taken before the stop does not report the room at all (its list is newer than
        // the answer), and the next answer, from that position, reports the stop once.
        _typing.GetChanges([RoomId], before, upTo).Should().BeEmpty();
        var next = _typing.GetChanges([RoomId], upTo, _typing.Current);
        next.Should().ContainSingle().Which.UserIds.Should().BeEmpty();
        _typing.GetChanges([RoomId], _typing.Current, _typing.Current).Should().BeEmpty();
    }

    [Fact]
    public async Task A_remote_stop_ends_typing_at_once()
    {
        await _typing.SetRemoteTypingAsync(new TypingEdu(RoomId, Bob, true), CancellationToken.None);
        await _typing.SetRemoteTypingAsync(new TypingEdu(RoomId, Bob, false), CancellationToken.None);
        _typing.GetTyping(RoomId).Should().BeEmpty();
    }

    [Fact]
    public async Task A_local_users_typing_goes_to_the_other_servers_is_repeated_every_forty_seconds_and_its_timeout_is_sent_as_a_stop()
    {
        await _typing.SetTypingAsync(AliceDevice, RoomId, Alice, typing: true, TimeSpan.FromSeconds(100), CancellationToken.None);
        Sent(EphemeralEdus.Typing, "remote.example").Select(e => e.GetProperty("typing").GetBoolean()).Should().Equal(true);
        _edus.Sent.Should().OnlyContain(s => !s.Destinations.Contains("left.example"), "a server whose users left is not told");

        // Typing again within the timeout changes nothing for other servers.
        await _typing.SetTypingAsync(AliceDevice, RoomId, Alice, typing: true, TimeSpan.FromSeconds(100), CancellationToken.None);
        Sent(EphemeralEdus.Typing, "remote.example").Should().HaveCount(1);

        _time.Advance(TimeSpan.FromSeconds(41));
        await _edus.SettledAsync();
        Sent(EphemeralEdus.Typing, "remote.example").Select(e => e.GetProperty("typing").GetBoolean()).Should().Equal(true, true);

        _time.Advance(TimeSpan.FromSeconds(60));
        await _edus.SettledAsync();
        var sent = Sent(EphemeralEdus.Typing, "remote.example");
        sent.Select(e => e.GetProperty("typing").GetBoolean()).Should().Equal(true, true, true, false);
        sent.Should().OnlyContain(e => e.GetProperty("user_id").GetString() == Alice && e.GetProperty("room_id").GetString() == RoomId);
        _typing.GetTyping(RoomId).Should().BeEmpty();
    }

    [Fact]
    public async Task A_local_stop_is_sent_once_and_a_stop_without_typing_is_not_sent()
    {
        await _typing.SetTypingAsync(AliceDevice, RoomId, Alice, typing: false, TimeSpan.Zero, CancellationToken.None);
        Sent(EphemeralEdus.Typing, "remote.example").Should().BeEmpty();

        await _typing.SetTypingAsync(AliceDevice, RoomId, Alice, typing: true, TimeSpan.FromSeconds(30), CancellationToken.None);
        await _typing.SetTypingAsync(AliceDevice, RoomId, Alice, typing: false, TimeSpan.Zero, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(100));
        await _edus.SettledAsync();
        Sent(EphemeralEdus.Typing, "remote.example").Select(e => e.GetProperty("typing").GetBoolean()).Should().Equal(true, false);
    }

    [Fact]
    public async Task A_remote_user_becomes_offline_after_thirty_silent_minutes_and_a_repeat_keeps_them_online()
    {
        await _presence.ApplyRemoteAsync(new PresenceEdu(Bob, PresenceStates.Online, "away from keyboard", 0, true), CancellationToken.None);
        _presenceStore.Persisted.Should().ContainSingle().Which.Should().Match<UserPresence>(p => p.State == PresenceStates.Online && p.StatusMsg == "away from keyboard");

        _time.Advance(TimeSpan.FromMinutes(25));
        await _presence.ApplyRemoteAsync(new PresenceEdu(Bob, PresenceStates.Online, "away from keyboard", 0, true), CancellationToken.None);
        _presenceStore.Persisted.Should().HaveCount(1, "an unchanged repeat is nothing new for our users");

        _time.Advance(TimeSpan.FromMinutes(29));
        await _presence.SettledAsync(_time);
        (await _presence.GetCurrentAsync([Bob], CancellationToken.None))[Bob].State.Should().Be(PresenceStates.Online);

        _time.Advance(TimeSpan.FromMinutes(2));
        await _presence.SettledAsync(_time);
        _presenceStore.Persisted.Last().State.Should().Be(PresenceStates.Offline);
        (await _presence.GetCurrentAsync([Bob], CancellationToken.None))[Bob].State.Should().Be(PresenceStates.Offline);
        _edus.Sent.Should().NotContain(s => s.EduType == EphemeralEdus.Presence, "another server's user's presence is not ours to send");
    }

    [Fact]
    public async Task A_local_users_presence_goes_to_servers_sharing_a_room_on_change_and_again_every_twenty_five_minutes()
    {
        _presenceStore.Sharing[Alice] = [Alice, Bob, "@dave:third.example"];
        await _presence.SetAsync(AliceDevice, Alice, PresenceStates.Online, "here", CancellationToken.None);
        var first = _edus.Sent.Single(s => s.EduType == EphemeralEdus.Presence);
        first.Destinations.Should().BeEquivalentTo("remote.example", "third.example");
        first.Content.GetProperty("push")[0].GetProperty("status_msg").GetString().Should().Be("here");

        // Setting the same again is no change.
        await _presence.SetAsync(AliceDevice, Alice, PresenceStates.Online, "here", CancellationToken.None);
        _edus.Sent.Count(s => s.EduType == EphemeralEdus.Presence).Should().Be(1);

        // Unchanged (unavailable after 5 idle minutes, a change sent then), it is repeated every 25 minutes.
        var keepSyncing = await _presence.UserSyncingAsync(AliceDevice, PresenceStates.Online, CancellationToken.None);
        var before = _edus.Sent.Count(s => s.EduType == EphemeralEdus.Presence);
        _time.Advance(TimeSpan.FromMinutes(40));
        await _presence.SettledAsync(_time);
        var states = _edus.Sent.Where(s => s.EduType == EphemeralEdus.Presence).Skip(before)
            .Select(s => s.Content.GetProperty("push")[0].GetProperty("presence").GetString()).ToList();
        keepSyncing.Dispose();
        states.Should().Contain(PresenceStates.Unavailable);
        states.Count.Should().BeInRange(2, 4, "one change to unavailable, then a repeat 25 minutes after the last send");
    }

    /// <summary>Records what would go to other servers.</summary>
    private sealed class RecordingEduSender : IEduSender
    {
        private readonly ConcurrentQueue<(IReadOnlyList<string> Destinations, string EduType, JsonElement Content)> _sent = new();

        public IReadOnlyList<(IReadOnlyList<string> Destinations, string EduType, JsonElement Content)> Sent => [.. _sent];

        public void Send(IEnumerable<string> destinations, string eduType, JsonElement content) => _sent.Enqueue(([.. destinations], eduType, content));

        /// <summary>Typing, receipts and presence are best effort: a stored send here would be a mistake the test sees.</summary>
        public Task SendPersistentAsync(IEnumerable<string> destinations, string eduType, JsonElement content, CancellationToken ct) =>
            throw new InvalidOperationException($"{eduType} must not be sent as a stored EDU");

        /// <summary>Lets the fire-and-forget sends of a timer tick finish (they only await completed fakes).</summary>
        public Task SettledAsync() => Task.Delay(50);
    }

    /// <summary>The presence table in memory; who shares a room with whom is set by the test.</summary>
    private sealed class FakePresenceStore : IPresenceStore
    {
        private readonly ConcurrentDictionary<string, UserPresence> _rows = new(StringComparer.Ordinal);

        public ConcurrentQueue<UserPresence> Persisted { get; } = new();

        public ConcurrentDictionary<string, IReadOnlyCollection<string>> Sharing { get; } = new(StringComparer.Ordinal);

        public Task<IReadOnlyList<UserPresence>> GetAsync(IReadOnlyCollection<string> userIds, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<UserPresence>>([.. userIds.Select(u => _rows.GetValueOrDefault(u)).OfType<UserPresence>()]);

        public Task UpsertAsync(UserPresence presence, CancellationToken ct)
        {
            _rows[presence.UserId] = presence;
            Persisted.Enqueue(presence);
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<UserPresence>> GetChangedAsync(long afterStream, long upToStream, int limit, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<UserPresence>>([]);

        public Task<IReadOnlyCollection<string>> GetUsersSharingRoomAsync(string userId, CancellationToken ct) =>
            Task.FromResult(Sharing.GetValueOrDefault(userId) ?? (IReadOnlyCollection<string>)[]);

        public Task<IReadOnlyCollection<string>> FilterUsersSharingRoomAsync(string userId, IReadOnlyCollection<string> candidates, CancellationToken ct) =>
            Task.FromResult<IReadOnlyCollection<string>>([]);

        public Task<IReadOnlyCollection<string>> FilterUsersSharingRoomWithServerAsync(IReadOnlyCollection<string> userIds, string server, CancellationToken ct) =>
            Task.FromResult<IReadOnlyCollection<string>>(userIds);

        public Task<IReadOnlyList<UserPresence>> GetActiveRemoteAsync(string ourServer, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<UserPresence>>([]);
    }
}

/// <summary>Helpers of the tests above.</summary>
internal static class EphemeralFederationTestExtensions
{
    /// <summary>Lets the presence timer's ticks (fired by <see cref="ManualTime.Advance"/>) finish their work.</summary>
    public static Task SettledAsync(this PresenceService presence, ManualTime time) => Task.Delay(100);
}

/// <summary>A clock that moves only when told; its timers fire, in order, as it passes their due times.</summary>
internal sealed class ManualTime : TimeProvider
{
    private readonly object _lock = new();
    private readonly List<Timer> _timers = [];
    private DateTimeOffset _now = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward, firing each timer whenever it is due (callbacks run on this thread).</summary>
    public void Advance(TimeSpan by)
    {
        DateTimeOffset end;
        lock (_lock)
        {
            end = _now + by;
        }

        while (true)
        {
            Timer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.Due is { } d && d <= end).MinBy(t => t.Due);
                if (next is null)
                {
                    _now = end;
                    return;
                }

                _now = next.Due!.Value;
                next.Due = next.Period is { } p && p > TimeSpan.Zero ? _now + p : null;
            }

            next.Fire();
        }
    }

    private sealed class Timer(ManualTime owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset? Due { get; set; }

        public TimeSpan? Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                Period = period == Timeout.InfiniteTimeSpan ? null : period;
            }

            return true;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>An implementation of a port of which a test needs only a few methods; the others throw.</summary>
public class Fake<T> : DispatchProxy
    where T : class
{
    private Dictionary<string, Func<object?[]?, object?>> _methods = new(StringComparer.Ordinal);

    public static T Create(params (string Method, Func<object?[]?, object?> Answer)[] methods)
    {
        var proxy = DispatchProxy.Create<T, Fake<T>>();
        ((Fake<T>)(object)proxy)._methods = methods.ToDictionary(m => m.Method, m => m.Answer, StringComparer.Ordinal);
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
        targetMethod is not null && _methods.TryGetValue(targetMethod.Name, out var answer)
            ? answer(args)
            : throw new NotSupportedException($"{typeof(T).Name}.{targetMethod?.Name} is not part of this fake");
}
