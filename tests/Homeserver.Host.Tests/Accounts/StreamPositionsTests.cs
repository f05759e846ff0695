using Homeserver.Core.Streams;
using Homeserver.Crypto;
using Homeserver.Storage;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Homeserver.Host.Tests.Accounts.AccountTestKit;

namespace Homeserver.Host.Tests.Accounts;

public sealed class StreamPositionsTests(TestServer server) : IClassFixture<TestServer>
{
    [Fact]
    public async Task A_server_starting_on_an_existing_database_continues_after_the_highest_stored_position()
    {
        await ExecuteAsync(server, "INSERT INTO account_data (user_id, room_id, data_type, content, stream_id) VALUES ('@seed:x', '', 't', '{}', 700)");
        var room = await ScalarAsync<long>(server, "INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!seed:x', '12', 0) RETURNING room_nid");
        await ExecuteAsync(server, """
            INSERT INTO events (event_id, room_nid, event_type, sender, depth, origin_server_ts, stream_ordering, topological_ordering, json)
            VALUES ('$seed', @room, 'm.room.message', '@seed:x', 1, 0, 900, 1, '{}')
            """, ("room", room));

        (await server.Services.GetRequiredService<StreamPositionsSeeder>().SeedAsync(new StreamPositions(), CancellationToken.None)).Should().Be(900);

        // A second server on the same database: the positions are seeded before it serves anything.
        var config = server.Config with { Listeners = [server.Config.Listeners[0] with { Port = TestServer.FreePort() }] };
        await using var second = HomeserverApp.Build(config, server.Database.ConnectionString, Ed25519SigningKey.Generate("second"), logging => logging.SetMinimumLevel(LogLevel.Warning));
        await second.StartAsync();
        var positions = second.Services.GetRequiredService<StreamPositions>();
        positions.Current.Should().Be(900);
        using var reservation = positions.Reserve();
        reservation.First.Should().Be(901);
        await second.StopAsync();
    }
}
