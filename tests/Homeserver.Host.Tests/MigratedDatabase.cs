using Homeserver.Storage;
using Homeserver.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>A throwaway database with every migration applied, and the storage services over it, without a server.</summary>
public sealed class MigratedDatabase : IAsyncDisposable
{
    private readonly TestDatabase _database;
    private readonly ServiceProvider _services;

    private MigratedDatabase(TestDatabase database, ServiceProvider services)
    {
        _database = database;
        _services = services;
    }

    public NpgsqlDataSource Db => _services.GetRequiredService<NpgsqlDataSource>();

    public string ConnectionString => _database.ConnectionString;

    /// <summary>A <typeparamref name="T"/> of the storage services, given <paramref name="args"/> in place of services.</summary>
    public T Create<T>(params object[] args) => ActivatorUtilities.CreateInstance<T>(_services, args);

    /// <summary>Creates the database, migrates it and runs <paramref name="setupSql"/> on it.</summary>
    public static async Task<MigratedDatabase> CreateAsync(string setupSql)
    {
        var database = await TestDatabase.CreateAsync();
        var services = new ServiceCollection().AddLogging().AddSingleton(TimeProvider.System).AddStorage(database.ConnectionString).BuildServiceProvider();
        await services.GetRequiredService<MigrationRunner>().MigrateAsync(CancellationToken.None);
        await RoomTestHelpers.ExecuteAsync(services.GetRequiredService<NpgsqlDataSource>(), setupSql);
        return new MigratedDatabase(database, services);
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }
}
