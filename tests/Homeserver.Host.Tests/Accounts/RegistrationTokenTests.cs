using System.Net;
using System.Text.Json.Nodes;
using Homeserver.TestKit;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class TokenRegistrationServer() : ConfiguredServer(c => c with { RegistrationRequiresToken = true });

public sealed class RegistrationTokenTests(TokenRegistrationServer server) : IClassFixture<TokenRegistrationServer>
{
    private const string Admin = "/_synapse/admin/v1/registration_tokens";

    private MatrixClient Anonymous() => new(server.Client);

    private async Task<JsonObject> CreateTokenAsync(MatrixClient admin, object body)
    {
        var created = (await admin.PostAsync(Admin + "/new", body)).EnsureOk();
        return JsonNode.Parse(created.Json.GetRawText())!.AsObject();
    }

    /// <summary>Starts a registration, passes the token stage and returns the session (not yet registered).</summary>
    private async Task<(string Session, MatrixClient.Response Answer)> PassTokenStageAsync(string username, string token)
    {
        var first = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username, password = Password });
        var session = first.Json.GetProperty("session").GetString()!;
        var answer = await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.registration_token", token, session } });
        return (session, answer);
    }

    [Fact]
    public async Task The_only_flow_is_the_registration_token_stage()
    {
        var first = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = Password });
        first.Status.Should().Be(HttpStatusCode.Unauthorized);
        first.Json.GetProperty("flows").GetArrayLength().Should().Be(1);
        first.Json.GetProperty("flows")[0].GetProperty("stages")[0].GetString().Should().Be("m.login.registration_token");

        var dummy = await Anonymous().PostAsync("/_matrix/client/v3/register", new
        {
            password = Password, auth = new { type = "m.login.dummy", session = first.Json.GetProperty("session").GetString() },
        });
        dummy.Status.Should().Be(HttpStatusCode.Unauthorized);
        dummy.ErrCode.Should().Be("M_UNRECOGNIZED");
    }

    [Fact]
    public async Task A_valid_token_registers_and_counts_as_completed_only_once_the_account_exists()
    {
        var admin = await RegisterAdminAsync(server);
        var token = (string)(await CreateTokenAsync(admin, new { uses_allowed = 2 }))["token"]!;
        token.Should().HaveLength(16);

        var name = NewName();
        var (session, answer) = await PassTokenStageAsync(name, token);
        answer.EnsureOk().Json.GetProperty("user_id").GetString().Should().Be($"@{name}:{server.ServerName}");
        var after = (await admin.GetAsync($"{Admin}/{token}")).EnsureOk().Json;
        after.GetProperty("completed").GetInt32().Should().Be(1);
        after.GetProperty("pending").GetInt32().Should().Be(0);
        session.Should().NotBeEmpty();
    }

    [Fact]
    public async Task A_passed_but_unfinished_stage_is_pending_and_uses_up_the_token()
    {
        var admin = await RegisterAdminAsync(server);
        var token = (string)(await CreateTokenAsync(admin, new { uses_allowed = 1 }))["token"]!;

        // The first registration passes the token stage but is missing its password at the end.
        var first = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username = NewName() });
        var session = first.Json.GetProperty("session").GetString()!;
        var noPassword = await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.registration_token", token, session } });
        noPassword.ErrCode.Should().Be("M_MISSING_PARAM");

        var state = (await admin.GetAsync($"{Admin}/{token}")).EnsureOk().Json;
        state.GetProperty("pending").GetInt32().Should().Be(1);
        state.GetProperty("completed").GetInt32().Should().Be(0);
        (await Anonymous().GetAsync("/_matrix/client/v1/register/m.login.registration_token/validity?token=" + token)).EnsureOk()
            .Json.GetProperty("valid").GetBoolean().Should().BeFalse();

        var (_, second) = await PassTokenStageAsync(NewName(), token);
        second.Status.Should().Be(HttpStatusCode.Unauthorized);
        second.ErrCode.Should().Be("M_UNAUTHORIZED");

        // The first session finishes with its password and completes the token's single use.
        var finish = await Anonymous().PostAsync("/_matrix/client/v3/register", new { password = Password, auth = new { session } });
        finish.EnsureOk();
        var done = (await admin.GetAsync($"{Admin}/{token}")).EnsureOk().Json;
        done.GetProperty("pending").GetInt32().Should().Be(0);
        done.GetProperty("completed").GetInt32().Should().Be(1);
    }

    [Fact]
    public async Task An_unknown_or_expired_token_fails_the_stage_with_M_UNAUTHORIZED()
    {
        var (_, unknown) = await PassTokenStageAsync(NewName(), "no-such-token");
        unknown.Status.Should().Be(HttpStatusCode.Unauthorized);
        unknown.ErrCode.Should().Be("M_UNAUTHORIZED");
        unknown.Json.TryGetProperty("flows", out _).Should().BeTrue();

        var admin = await RegisterAdminAsync(server);
        var token = (string)(await CreateTokenAsync(admin, new { expiry_time = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeMilliseconds() }))["token"]!;
        (await admin.PutAsync($"{Admin}/{token}", new { expiry_time = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds() })).EnsureOk();
        await AccountTestKit.ExecuteAsync(server, "UPDATE registration_tokens SET expiry_time = 1 WHERE token = @t", ("t", token));
        var (_, expired) = await PassTokenStageAsync(NewName(), token);
        expired.ErrCode.Should().Be("M_UNAUTHORIZED");
    }

    [Fact]
    public async Task A_stage_without_a_token_or_with_a_number_is_a_failed_stage()
    {
        var first = await Anonymous().PostAsync("/_matrix/client/v3/register", new { username = NewName(), password = Password });
        var session = first.Json.GetProperty("session").GetString();
        var missing = await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.registration_token", session } });
        missing.Status.Should().Be(HttpStatusCode.Unauthorized);
        missing.ErrCode.Should().Be("M_MISSING_PARAM");
        var number = await Anonymous().PostAsync("/_matrix/client/v3/register", new { auth = new { type = "m.login.registration_token", token = 5, session } });
        number.Status.Should().Be(HttpStatusCode.Unauthorized);
        number.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Validity_is_true_for_a_usable_token_false_otherwise_and_served_on_v1_and_v3()
    {
        var admin = await RegisterAdminAsync(server);
        var token = (string)(await CreateTokenAsync(admin, new { token = "valid-" + NewName("t") }))["token"]!;
        (await Anonymous().GetAsync("/_matrix/client/v1/register/m.login.registration_token/validity?token=" + token)).EnsureOk()
            .Json.GetProperty("valid").GetBoolean().Should().BeTrue();
        (await Anonymous().GetAsync("/_matrix/client/v3/register/m.login.registration_token/validity?token=" + token)).EnsureOk()
            .Json.GetProperty("valid").GetBoolean().Should().BeTrue();
        (await Anonymous().GetAsync("/_matrix/client/v1/register/m.login.registration_token/validity?token=nope")).EnsureOk()
            .Json.GetProperty("valid").GetBoolean().Should().BeFalse();
        (await Anonymous().GetAsync("/_matrix/client/v1/register/m.login.registration_token/validity")).ErrCode.Should().Be("M_MISSING_PARAM");
    }

    [Fact]
    public async Task Admins_create_list_update_and_delete_tokens_in_synapses_shape()
    {
        var admin = await RegisterAdminAsync(server);
        var name = "tok_" + Guid.NewGuid().ToString("N")[..8];
        var created = await CreateTokenAsync(admin, new { token = name, uses_allowed = 3, expiry_time = (long?)null });
        created.ToJsonString().Should().Be($$"""{"token":"{{name}}","uses_allowed":3,"pending":0,"completed":0,"expiry_time":null}""");

        var list = (await admin.GetAsync(Admin)).EnsureOk().Json.GetProperty("registration_tokens");
        list.EnumerateArray().Select(t => t.GetProperty("token").GetString()).Should().Contain(name);

        var updated = (await admin.PutAsync($"{Admin}/{name}", new { uses_allowed = (int?)null })).EnsureOk().Json;
        updated.GetProperty("uses_allowed").ValueKind.Should().Be(System.Text.Json.JsonValueKind.Null);

        var future = DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeMilliseconds();
        (await admin.PutAsync($"{Admin}/{name}", new { expiry_time = future })).EnsureOk().Json.GetProperty("expiry_time").GetInt64().Should().Be(future);

        (await admin.DeleteAsync($"{Admin}/{name}")).EnsureOk();
        var gone = await admin.GetAsync($"{Admin}/{name}");
        gone.Status.Should().Be(HttpStatusCode.NotFound);
        gone.ErrCode.Should().Be("M_NOT_FOUND");
        (await admin.DeleteAsync($"{Admin}/{name}")).ErrCode.Should().Be("M_NOT_FOUND");
        (await admin.PutAsync($"{Admin}/{name}", new { uses_allowed = 1 })).ErrCode.Should().Be("M_NOT_FOUND");
    }

    [Fact]
    public async Task The_list_can_be_filtered_by_validity()
    {
        var admin = await RegisterAdminAsync(server);
        var used = (string)(await CreateTokenAsync(admin, new { uses_allowed = 0 }))["token"]!;
        var open = (string)(await CreateTokenAsync(admin, new { }))["token"]!;
        var valid = (await admin.GetAsync(Admin + "?valid=true")).EnsureOk().Json.GetProperty("registration_tokens").EnumerateArray()
            .Select(t => t.GetProperty("token").GetString()).ToList();
        valid.Should().Contain(open).And.NotContain(used);
        var invalid = (await admin.GetAsync(Admin + "?valid=false")).EnsureOk().Json.GetProperty("registration_tokens").EnumerateArray()
            .Select(t => t.GetProperty("token").GetString()).ToList();
        invalid.Should().Contain(used).And.NotContain(open);
        (await admin.GetAsync(Admin + "?valid=maybe")).ErrCode.Should().Be("M_INVALID_PARAM");
    }

    public static TheoryData<string, string> InvalidCreations => new()
    {
        { """{"token": "has space"}""", "M_INVALID_PARAM" },
        { """{"token": ""}""", "M_INVALID_PARAM" },
        { $$"""{"token": "{{new string('a', 65)}}"}""", "M_INVALID_PARAM" },
        { """{"uses_allowed": -1}""", "M_INVALID_PARAM" },
        { """{"uses_allowed": "many"}""", "M_INVALID_PARAM" },
        { """{"expiry_time": 1}""", "M_INVALID_PARAM" },
        { """{"length": 0}""", "M_INVALID_PARAM" },
        { """{"length": 65}""", "M_INVALID_PARAM" },
        { """{"token": 7}""", "M_BAD_JSON" },
    };

    [Theory]
    [MemberData(nameof(InvalidCreations))]
    public async Task Invalid_token_creations_are_refused(string body, string errcode)
    {
        var admin = await RegisterAdminAsync(server);
        var response = await admin.SendAsync(HttpMethod.Post, Admin + "/new", null, body);
        response.Status.Should().Be(HttpStatusCode.BadRequest);
        response.ErrCode.Should().Be(errcode);
    }

    [Fact]
    public async Task A_token_that_exists_cannot_be_created_again()
    {
        var admin = await RegisterAdminAsync(server);
        var name = "dup_" + Guid.NewGuid().ToString("N")[..8];
        await CreateTokenAsync(admin, new { token = name });
        var again = await admin.PostAsync(Admin + "/new", new { token = name });
        again.Status.Should().Be(HttpStatusCode.BadRequest);
        again.ErrCode.Should().Be("M_INVALID_PARAM");
    }

    [Fact]
    public async Task Only_admins_may_use_the_admin_api()
    {
        var user = await RegisterAdminAsync(server, admin: false);
        foreach (var (method, path) in new[] { (HttpMethod.Get, Admin), (HttpMethod.Post, Admin + "/new"), (HttpMethod.Get, Admin + "/x"), (HttpMethod.Put, Admin + "/x"), (HttpMethod.Delete, Admin + "/x") })
        {
            var response = await user.SendAsync(method, path, new { });
            response.Status.Should().Be(HttpStatusCode.Forbidden, path);
            response.ErrCode.Should().Be("M_FORBIDDEN");
        }

        (await Anonymous().GetAsync(Admin)).ErrCode.Should().Be("M_MISSING_TOKEN");
    }
}
