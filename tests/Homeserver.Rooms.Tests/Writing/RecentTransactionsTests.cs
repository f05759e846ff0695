using Homeserver.Rooms.Persistence;
using Homeserver.Rooms.Writing;

namespace Homeserver.Rooms.Tests.Writing;

public sealed class RecentTransactionsTests
{
    private static TransactionRef Txn(int i, string device = "PHONE") => new("@alice:example.org", device, "t" + i);

    [Fact]
    public void A_transaction_is_found_with_its_event_and_only_for_its_device()
    {
        var recent = new RecentTransactions(8);
        recent.Add(Txn(1), "$one");

        recent.Find(Txn(1)).Should().Be("$one");
        recent.Find(Txn(1, "LAPTOP")).Should().BeNull();
        recent.Find(Txn(2)).Should().BeNull();
    }

    [Fact]
    public void The_oldest_transactions_are_forgotten_beyond_the_capacity()
    {
        var recent = new RecentTransactions(3);
        for (var i = 1; i <= 5; i++)
        {
            recent.Add(Txn(i), "$" + i);
        }

        recent.Count.Should().Be(3);
        recent.Find(Txn(1)).Should().BeNull();
        recent.Find(Txn(2)).Should().BeNull();
        recent.Find(Txn(5)).Should().Be("$5");
    }

    [Fact]
    public void Adding_a_known_transaction_again_keeps_its_first_event()
    {
        var recent = new RecentTransactions(3);
        recent.Add(Txn(1), "$first");
        recent.Add(Txn(1), "$second");
        recent.Add(Txn(2), "$2");
        recent.Add(Txn(3), "$3");

        recent.Find(Txn(1)).Should().Be("$first");
        recent.Count.Should().Be(3);
    }
}
