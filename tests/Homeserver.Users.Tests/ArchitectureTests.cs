namespace Homeserver.Users.Tests;

public sealed class ArchitectureTests
{
    [Fact]
    public void The_users_domain_references_neither_asp_net_nor_npgsql_nor_dapper()
    {
        var references = typeof(AccountService).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        references.Should().Contain("Homeserver.Core");
        references.Should().NotContain(name => name.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)
            || name.StartsWith("Npgsql", StringComparison.Ordinal)
            || name.StartsWith("Dapper", StringComparison.Ordinal)
            || name.StartsWith("Homeserver.Storage", StringComparison.Ordinal)
            || name.StartsWith("Homeserver.Http", StringComparison.Ordinal));
    }
}
