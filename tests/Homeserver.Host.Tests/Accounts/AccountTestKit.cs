using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Homeserver.Core.Configuration;
using Homeserver.TestKit;
using Npgsql;

namespace Homeserver.Host.Tests.Accounts;

/// <summary>Helpers for the account tests: users, admins, logins, the password UIA dance and direct database reads.</summary>
internal static class AccountTestKit
{
    public const string Password = "correct horse battery staple";

    public static string NewName(string prefix = "user") => prefix + Guid.NewGuid().ToString("N")[..10];

    public static Task<MatrixClient> RegisterAsync(TestServer server, string? name = null, string password = Password) =>
        new MatrixClient(server.Client).RegisterAsync(name ?? NewName(), password);

    /// <summary>An admin, created with the Synapse-compatible shared-secret API.</summary>
    public static async Task<MatrixClient> RegisterAdminAsync(TestServer server, string? name = null, bool admin = true)
    {
        var client = new MatrixClient(server.Client);
        name ??= NewName("admin");
        var nonce = (await client.GetAsync("/_synapse/admin/v1/register")).EnsureOk().Json.GetProperty("nonce").GetString()!;
        var mac = Convert.ToHexStringLower(HMACSHA1.HashData(
            Encoding.UTF8.GetBytes(server.Config.RegistrationSharedSecret!), Encoding.UTF8.GetBytes($"{nonce}\0{name}\0{Password}\0{(admin ? "admin" : "notadmin")}")));
        var done = (await client.PostAsync("/_synapse/admin/v1/register", new { nonce, username = name, password = Password, admin, mac })).EnsureOk();
        client.AccessToken = done.Json.GetProperty("access_token").GetString();
        client.UserId = done.Json.GetProperty("user_id").GetString();
        client.DeviceId = done.Json.GetProperty("device_id").GetString();
        return client;
    }

    /// <summary>Logs in with a password; the returned client holds the new token.</summary>
    public static async Task<MatrixClient> LoginAsync(TestServer server, string user, string password = Password, string? deviceId = null)
    {
        var client = new MatrixClient(server.Client);
        var login = (await client.PostAsync("/_matrix/client/v3/login", new JsonObject
        {
            ["type"] = "m.login.password",
            ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = user },
            ["password"] = password,
            ["device_id"] = deviceId,
        })).EnsureOk();
        client.AccessToken = login.Json.GetProperty("access_token").GetString();
        client.UserId = login.Json.GetProperty("user_id").GetString();
        client.DeviceId = login.Json.GetProperty("device_id").GetString();
        return client;
    }

    public static JsonObject PasswordAuth(string userId, string? session, string password = Password) => new()
    {
        ["type"] = "m.login.password",
        ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = userId },
        ["password"] = password,
        ["session"] = session,
    };

    /// <summary>
    /// The password UIA dance: the request without auth must be answered 401 with the password flow and a session;
    /// the same request with the password stage is then sent and its answer returned.
    /// </summary>
    public static async Task<MatrixClient.Response> WithPasswordAsync(MatrixClient client, HttpMethod method, string path, JsonObject? body = null, string password = Password)
    {
        body ??= [];
        var first = await client.SendAsync(method, path, body.DeepClone());
        first.Status.Should().Be(HttpStatusCode.Unauthorized, first.Json.ToString());
        first.Json.GetProperty("flows").EnumerateArray().Select(f => f.GetProperty("stages")[0].GetString()).Should().Contain("m.login.password");
        var session = first.Json.GetProperty("session").GetString();
        var second = (JsonObject)body.DeepClone();
        second["auth"] = PasswordAuth(client.UserId!, session, password);
        return await client.SendAsync(method, path, second);
    }

    public static async Task<T?> ScalarAsync<T>(TestServer server, string sql, params (string Name, object? Value)[] args)
    {
        await using var conn = new NpgsqlConnection(server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        var result = await cmd.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    public static async Task ExecuteAsync(TestServer server, string sql, params (string Name, object? Value)[] args)
    {
        await using var conn = new NpgsqlConnection(server.Database.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        await cmd.ExecuteNonQueryAsync();
    }

    public static string Localpart(string userId) => userId[1..userId.IndexOf(':')];

    public static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];
}

/// <summary>A test server with a configuration change, for the test classes that need one.</summary>
public abstract class ConfiguredServer(Func<HomeserverConfig, HomeserverConfig> change) : TestServer
{
    protected override HomeserverConfig Configure(HomeserverConfig config) => change(config);
}
