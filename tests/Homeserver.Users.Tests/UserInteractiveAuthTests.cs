using System.Text.Json;
using Homeserver.Core;

namespace Homeserver.Users.Tests;

public sealed class UserInteractiveAuthTests
{
    private static readonly IReadOnlyList<IReadOnlyList<string>> Flows = [["m.login.dummy"], ["m.login.password", "m.login.terms"]];
    private readonly ManualTime _time = new();

    private static JsonElement Body(string json) => JsonDocument.Parse(json).RootElement;

    private static Task<bool> Check(string stage, JsonElement auth, string session, CancellationToken ct) => stage switch
    {
        "m.login.password" when auth.GetProperty("password").GetString() == "right" => Task.FromResult(true),
        "m.login.password" => throw new MatrixException(MatrixErrorCode.Forbidden, 401, "Invalid password"),
        "m.login.terms" => Task.FromResult(true),
        _ => Task.FromResult(true),
    };

    private static MatrixException Challenge(Func<Task> act) => act.Should().ThrowAsync<MatrixException>().GetAwaiter().GetResult().Which;

    [Fact]
    public void The_first_request_gets_the_flows_params_and_a_session_without_an_error()
    {
        var uia = new UserInteractiveAuth(_time);
        var e = Challenge(() => uia.AuthenticateAsync(Body("{}"), "op", "@a:x", Flows, new Dictionary<string, object?> { ["m.login.terms"] = new { policies = new { } } }, Check, CancellationToken.None));
        e.HttpStatus.Should().Be(401);
        e.ErrorCode.Should().BeNull();
        e.Extra!["session"].Should().BeOfType<string>();
        e.Extra.Should().ContainKey("flows").And.ContainKey("params").And.NotContainKey("completed").And.NotContainKey("errcode");
    }

    [Fact]
    public void A_failed_stage_lists_the_empty_completed_stages_with_its_error()
    {
        var uia = new UserInteractiveAuth(_time);
        var session = (string)Challenge(() => uia.AuthenticateAsync(Body("{}"), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None)).Extra!["session"]!;
        var failed = Challenge(() => uia.AuthenticateAsync(Body($$$"""{"auth": {"type": "m.login.password", "password": "wrong", "session": "{{{session}}}"}}"""), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        failed.HttpStatus.Should().Be(401);
        failed.Extra!["errcode"].Should().Be("M_FORBIDDEN");
        failed.Extra["completed"].Should().BeEquivalentTo(new List<string>());
    }

    [Fact]
    public async Task Stages_accumulate_in_the_session_until_a_flow_is_complete()
    {
        var uia = new UserInteractiveAuth(_time);
        var session = (string)Challenge(() => uia.AuthenticateAsync(Body("{}"), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None)).Extra!["session"]!;
        var afterPassword = Challenge(() => uia.AuthenticateAsync(Body($$$"""{"auth": {"type": "m.login.password", "password": "right", "session": "{{{session}}}"}}"""), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        afterPassword.Extra!["completed"].Should().BeEquivalentTo(new List<string> { "m.login.password" });
        var done = await uia.AuthenticateAsync(Body($$$"""{"auth": {"type": "m.login.terms", "session": "{{{session}}}"}}"""), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None);
        done.Should().Be(session);
    }

    [Fact]
    public void A_failed_stage_answers_401_with_its_error_and_the_session()
    {
        var uia = new UserInteractiveAuth(_time);
        var e = Challenge(() => uia.AuthenticateAsync(Body("""{"auth": {"type": "m.login.password", "password": "wrong"}}"""), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        e.HttpStatus.Should().Be(401);
        e.Extra!["errcode"].Should().Be(MatrixErrorCode.Forbidden);
        e.Extra["error"].Should().Be("Invalid password");
        e.Extra["session"].Should().BeOfType<string>();
    }

    [Fact]
    public void A_session_is_bound_to_its_user_and_purpose_403_otherwise_and_expires()
    {
        var uia = new UserInteractiveAuth(_time);
        var session = (string)Challenge(() => uia.AuthenticateAsync(Body("{}"), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None)).Extra!["session"]!;
        var auth = Body($$$"""{"auth": {"type": "m.login.dummy", "session": "{{{session}}}"}}""");
        var otherUser = Challenge(() => uia.AuthenticateAsync(auth, "op", "@b:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        (otherUser.ErrorCode, otherUser.HttpStatus).Should().Be((MatrixErrorCode.Forbidden, 403));
        var otherOperation = Challenge(() => uia.AuthenticateAsync(auth, "other", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        (otherOperation.ErrorCode, otherOperation.HttpStatus).Should().Be((MatrixErrorCode.Forbidden, 403));
        var unknown = Challenge(() => uia.AuthenticateAsync(Body("""{"auth": {"type": "m.login.dummy", "session": "nope"}}"""), "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        (unknown.ErrorCode, unknown.HttpStatus).Should().Be((MatrixErrorCode.Unknown, 400));
        _time.Now += UserInteractiveAuth.SessionLifetime + TimeSpan.FromSeconds(1);
        Challenge(() => uia.AuthenticateAsync(auth, "op", "@a:x", Flows, new Dictionary<string, object?>(), Check, CancellationToken.None)).ErrorCode.Should().Be(MatrixErrorCode.Unknown);
    }

    [Fact]
    public async Task A_completed_session_is_spent_once_the_request_succeeded()
    {
        var uia = new UserInteractiveAuth(_time);
        var session = await uia.AuthenticateAsync(Body("""{"auth": {"type": "m.login.dummy"}}"""), "op", null, Flows, new Dictionary<string, object?>(), Check, CancellationToken.None);
        uia.SetData(session, "k", "v");
        uia.GetData(session, "k").Should().Be("v");
        uia.Complete(session);
        uia.GetData(session, "k").Should().BeNull();
        Challenge(() => uia.AuthenticateAsync(Body($$$"""{"auth": {"session": "{{{session}}}"}}"""), "op", null, Flows, new Dictionary<string, object?>(), Check, CancellationToken.None))
            .ErrorCode.Should().Be(MatrixErrorCode.Unknown);
    }

    [Fact]
    public async Task The_incomplete_callback_runs_before_each_challenge_with_the_session()
    {
        var uia = new UserInteractiveAuth(_time);
        var seen = new List<string>();
        Task Remember(string s)
        {
            seen.Add(s);
            return Task.CompletedTask;
        }

        var e = Challenge(() => uia.AuthenticateAsync(Body("{}"), "op", null, Flows, new Dictionary<string, object?>(), Check, CancellationToken.None, Remember));
        var failed = Challenge(() => uia.AuthenticateAsync(Body($$$"""{"auth": {"type": "m.login.password", "password": "no", "session": "{{{e.Extra!["session"]}}}"}}"""), "op", null, Flows, new Dictionary<string, object?>(), Check, CancellationToken.None, Remember));
        await uia.AuthenticateAsync(Body($$$"""{"auth": {"type": "m.login.dummy", "session": "{{{e.Extra!["session"]}}}"}}"""), "op", null, Flows, new Dictionary<string, object?>(), Check, CancellationToken.None, Remember);
        seen.Should().Equal((string)e.Extra!["session"]!, (string)failed.Extra!["session"]!);
    }

    [Fact]
    public void A_stage_outside_every_flow_is_M_UNRECOGNIZED_in_the_challenge()
    {
        var uia = new UserInteractiveAuth(_time);
        var e = Challenge(() => uia.AuthenticateAsync(Body("""{"auth": {"type": "m.login.sso"}}"""), "op", null, Flows, new Dictionary<string, object?>(), Check, CancellationToken.None));
        e.Extra!["errcode"].Should().Be(MatrixErrorCode.Unrecognized);
    }
}
