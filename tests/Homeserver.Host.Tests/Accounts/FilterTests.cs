using System.Net;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class FilterTests(TestServer server) : IClassFixture<TestServer>
{
    private static string Path(MatrixClient user) => $"/_matrix/client/v3/user/{user.UserId}/filter";

    [Fact]
    public async Task A_filter_is_stored_and_read_back_with_ids_counting_from_zero_per_user()
    {
        var user = await RegisterAsync(server);
        const string Filter = """{"room":{"timeline":{"limit":10,"types":["m.room.message"]},"state":{"lazy_load_members":true}},"presence":{"not_types":["*"]},"event_format":"client"}""";
        var id = (await user.SendAsync(HttpMethod.Post, Path(user), null, Filter)).EnsureOk().Json.GetProperty("filter_id").GetString();
        id.Should().Be("0");
        var read = (await user.GetAsync($"{Path(user)}/{id}")).EnsureOk().Json;
        read.GetProperty("room").GetProperty("timeline").GetProperty("limit").GetInt32().Should().Be(10);
        read.GetProperty("presence").GetProperty("not_types")[0].GetString().Should().Be("*");

        var second = (await user.PostAsync(Path(user), new { event_fields = new[] { "type" } })).EnsureOk().Json.GetProperty("filter_id").GetString();
        second.Should().Be("1");
    }

    [Fact]
    public async Task The_same_filter_uploaded_again_gets_the_same_id()
    {
        var user = await RegisterAsync(server);
        var a = (await user.SendAsync(HttpMethod.Post, Path(user), null, """{"room":{"timeline":{"limit":5}},"account_data":{"types":["m.tag"]}}""")).EnsureOk().Json.GetProperty("filter_id").GetString();
        var b = (await user.SendAsync(HttpMethod.Post, Path(user), null, """{"account_data":{"types":["m.tag"]}, "room":{"timeline":{"limit":5}}}""")).EnsureOk().Json.GetProperty("filter_id").GetString();
        b.Should().Be(a);
    }

    [Fact]
    public async Task Unknown_fields_are_kept_for_forward_compatibility()
    {
        var user = await RegisterAsync(server);
        var id = (await user.SendAsync(HttpMethod.Post, Path(user), null, """{"org.example.future":{"x":1.5},"room":{"timeline":{"org.example.flag":true}}}""")).EnsureOk().Json.GetProperty("filter_id").GetString();
        var read = (await user.GetAsync($"{Path(user)}/{id}")).EnsureOk().Json;
        read.GetProperty("org.example.future").GetProperty("x").GetDouble().Should().Be(1.5);
    }

    public static TheoryData<string, string> BadFilters => new()
    {
        { """{"event_fields": "type"}""", "M_BAD_JSON" },
        { """{"event_fields": [1]}""", "M_BAD_JSON" },
        { """{"event_format": "xml"}""", "M_INVALID_PARAM" },
        { """{"event_format": 1}""", "M_BAD_JSON" },
        { """{"presence": []}""", "M_BAD_JSON" },
        { """{"presence": {"limit": "ten"}}""", "M_BAD_JSON" },
        { """{"presence": {"limit": -1}}""", "M_INVALID_PARAM" },
        { """{"presence": {"limit": 1.5}}""", "M_INVALID_PARAM" },
        { """{"account_data": {"senders": ["not-a-user"]}}""", "M_INVALID_PARAM" },
        { """{"account_data": {"not_senders": "@a:b"}}""", "M_BAD_JSON" },
        { """{"room": {"rooms": ["#alias:example.org"]}}""", "M_INVALID_PARAM" },
        { """{"room": {"not_rooms": [5]}}""", "M_BAD_JSON" },
        { """{"room": {"include_leave": "yes"}}""", "M_BAD_JSON" },
        { """{"room": {"timeline": {"contains_url": 1}}}""", "M_BAD_JSON" },
        { """{"room": {"state": {"lazy_load_members": "true"}}}""", "M_BAD_JSON" },
        { """{"room": {"ephemeral": {"types": [true]}}}""", "M_BAD_JSON" },
        { """{"room": {"account_data": {"rooms": ["nope"]}}}""", "M_INVALID_PARAM" },
        { """{"room": "all"}""", "M_BAD_JSON" },
        { """[]""", "M_BAD_JSON" },
        { """{"room": """, "M_NOT_JSON" },
    };

    [Theory]
    [MemberData(nameof(BadFilters))]
    public async Task Filters_that_do_not_match_the_schema_are_refused(string filter, string errcode)
    {
        var user = await RegisterAsync(server);
        var response = await user.SendAsync(HttpMethod.Post, Path(user), null, filter);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task Filters_of_other_users_are_403_and_unknown_ids_404()
    {
        var user = await RegisterAsync(server);
        var other = await RegisterAsync(server);
        var id = (await other.PostAsync(Path(other), new { })).EnsureOk().Json.GetProperty("filter_id").GetString();
        var read = await user.GetAsync($"{Path(other)}/{id}");
        read.Status.Should().Be(HttpStatusCode.Forbidden);
        read.ErrCode.Should().Be("M_FORBIDDEN");
        (await user.PostAsync(Path(other), new { })).ErrCode.Should().Be("M_FORBIDDEN");
        (await user.PostAsync("/_matrix/client/v3/user/@someone:remote.example/filter", new { })).ErrCode.Should().Be("M_FORBIDDEN");

        var unknown = await user.GetAsync($"{Path(user)}/999");
        unknown.Status.Should().Be(HttpStatusCode.NotFound);
        unknown.ErrCode.Should().Be("M_NOT_FOUND");
        (await user.GetAsync($"{Path(user)}/abc")).ErrCode.Should().Be("M_NOT_FOUND");
        (await user.GetAsync($"{Path(user)}/{id}")).ErrCode.Should().Be("M_NOT_FOUND");
    }
}
