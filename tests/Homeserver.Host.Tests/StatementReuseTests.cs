using FluentAssertions;
using Homeserver.Storage;
using Npgsql;

namespace Homeserver.Host.Tests;

/// <summary>The database connection's defaults for reusing prepared statements, and that an operator's own values win.</summary>
public sealed class StatementReuseTests
{
    [Fact]
    public void A_plain_connection_string_gets_prepared_statements_kept_across_pool_returns()
    {
        var built = new NpgsqlConnectionStringBuilder(StorageServices.WithStatementReuse("Host=/tmp/pg;Username=homeserver;Database=hs"));

        built.MaxAutoPrepare.Should().Be(256);
        built.AutoPrepareMinUsages.Should().Be(2);
        built.NoResetOnClose.Should().BeTrue();
        built.Host.Should().Be("/tmp/pg");
        built.Database.Should().Be("hs");
    }

    [Theory]
    [InlineData("Host=h;Max Auto Prepare=0;No Reset On Close=false;Auto Prepare Min Usages=5")]
    [InlineData("Host=h;maxautoprepare=0;NoResetOnClose=false;AutoPrepareMinUsages=5")]
    public void Values_the_operator_gave_are_kept_whatever_the_keyword_spelling(string connectionString)
    {
        var built = new NpgsqlConnectionStringBuilder(StorageServices.WithStatementReuse(connectionString));

        built.MaxAutoPrepare.Should().Be(0);
        built.NoResetOnClose.Should().BeFalse();
        built.AutoPrepareMinUsages.Should().Be(5);
    }
}
