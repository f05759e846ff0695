using Homeserver.Core.Configuration;
using Homeserver.Core.Streams;
using Homeserver.E2ee.DeviceLists;
using Homeserver.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace Homeserver.E2ee.Tests;

/// <summary>The changed/left rules of <see cref="DeviceListService.GetChangesAsync"/> over a fake store.</summary>
public sealed class DeviceListRulesTests
{
    private const string Me = "@me:hs";

    private sealed class FakeStore : IDeviceListStore
    {
        public List<string> ChangedUsers { get; } = [];

        public List<MembershipChange> Memberships { get; } = [];

        public Dictionary<long, List<string>> JoinedMembers { get; } = [];

        public HashSet<string> SharingWithMe { get; } = [];

        public Task AddChangesAsync(long streamId, IReadOnlyList<DeviceListChange> changes, long nowTs, CancellationToken ct) => Task.CompletedTask;

        public Task<IReadOnlyList<string>> GetChangedUsersAsync(string viewerUserId, long after, long upTo, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<string>>(ChangedUsers);

        public Task<IReadOnlyList<MembershipChange>> GetMembershipChangesAsync(string viewerUserId, long after, long upTo, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<MembershipChange>>(Memberships);

        public Task<IReadOnlyList<string>> GetJoinedMembersAsync(IReadOnlyCollection<long> roomNids, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<string>>(roomNids.SelectMany(r => JoinedMembers.GetValueOrDefault(r) ?? []).Distinct().ToList());

        public Task<IReadOnlyList<string>> GetUsersSharingRoomAsync(string userId, IReadOnlyCollection<string>? among, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<string>>(SharingWithMe.Where(u => among is null || among.Contains(u)).ToList());

        public Task<long> GetLastChangeAsync(string userId, long upTo, CancellationToken ct) => Task.FromResult(0L);

        public Task DeleteDeviceDataAsync(string userId, IReadOnlyCollection<string> deviceIds, CancellationToken ct) => Task.CompletedTask;
    }

    private static DeviceListService Service(FakeStore store)
    {
        var config = new HomeserverConfig
        {
            ServerName = "hs",
            PublicBaseUrl = new Uri("http://localhost/"),
            DataDirectory = "/tmp",
            ConfigDirectory = "/tmp",
            Listeners = [],
            SigningKeyPath = "/tmp/k",
            MediaStorePath = "/tmp/m",
        };
        var streams = new StreamPositions();
        return new DeviceListService(store, streams, new SyncNotifier(streams, config), config, TimeProvider.System, [], NullLogger<DeviceListService>.Instance);
    }

    [Fact]
    public async Task Key_changes_and_new_members_of_my_rooms_are_changed()
    {
        var store = new FakeStore();
        store.ChangedUsers.AddRange(["@keys:hs", Me]);
        store.Memberships.Add(new MembershipChange(1, "@joined:hs", "join", "join"));
        store.Memberships.Add(new MembershipChange(1, "@invited:hs", "invite", "join"));
        store.Memberships.Add(new MembershipChange(2, "@elsewhere:hs", "join", "leave"));
        var changes = await Service(store).GetChangesAsync(Me, 10, 20, CancellationToken.None);
        changes.Changed.Should().BeEquivalentTo(["@keys:hs", Me, "@joined:hs", "@invited:hs"]);
        changes.Left.Should().BeEmpty();
    }

    [Fact]
    public async Task Joining_a_room_makes_all_its_members_changed()
    {
        var store = new FakeStore();
        store.Memberships.Add(new MembershipChange(7, Me, "join", "join"));
        store.JoinedMembers[7] = [Me, "@a:hs", "@b:remote"];
        (await Service(store).GetChangesAsync(Me, 10, 20, CancellationToken.None)).Changed.Should().BeEquivalentTo(["@a:hs", "@b:remote"]);
    }

    [Fact]
    public async Task Leavers_are_left_only_when_no_room_is_shared_any_more()
    {
        var store = new FakeStore();
        store.Memberships.Add(new MembershipChange(1, "@gone:hs", "leave", "join"));
        store.Memberships.Add(new MembershipChange(1, "@banned:hs", "ban", "join"));
        store.Memberships.Add(new MembershipChange(1, "@stays:hs", "leave", "join"));
        store.SharingWithMe.Add("@stays:hs");
        store.ChangedUsers.Add("@gone:hs");
        var changes = await Service(store).GetChangesAsync(Me, 10, 20, CancellationToken.None);
        changes.Left.Should().BeEquivalentTo(["@gone:hs", "@banned:hs"]);
        changes.Changed.Should().BeEmpty("a user who is left is not also changed");
    }

    [Fact]
    public async Task Leaving_a_room_makes_its_members_left_unless_still_shared()
    {
        var store = new FakeStore();
        store.Memberships.Add(new MembershipChange(3, Me, "leave", "leave"));
        store.JoinedMembers[3] = ["@a:hs", "@b:hs"];
        store.SharingWithMe.Add("@b:hs");
        (await Service(store).GetChangesAsync(Me, 10, 20, CancellationToken.None)).Left.Should().Equal("@a:hs");
    }

    [Fact]
    public async Task An_empty_range_has_no_changes()
    {
        var store = new FakeStore();
        store.ChangedUsers.Add("@keys:hs");
        (await Service(store).GetChangesAsync(Me, 20, 20, CancellationToken.None)).IsEmpty.Should().BeTrue();
    }
}
