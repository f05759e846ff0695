using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Writing;

/// <summary>
/// The client transactions a room's writer committed most recently, with the event each created, so that a retried
/// <c>PUT /send</c> is answered without a database round trip. Bounded: the oldest entries are forgotten first. A
/// repeat that is no longer here (or was never here: another room's writer, a restart) is caught by the primary key
/// of the stored transaction IDs (<see cref="DuplicateTransactionException"/>). Used only by its room's writer, under
/// the writer's lock.
/// </summary>
internal sealed class RecentTransactions(int capacity)
{
    private readonly Dictionary<TransactionRef, string> _events = [];
    private readonly Queue<TransactionRef> _order = new();

    public int Count => _events.Count;

    public string? Find(TransactionRef txn) => _events.GetValueOrDefault(txn);

    public void Add(TransactionRef txn, string eventId)
    {
        if (!_events.TryAdd(txn, eventId))
        {
            return;
        }

        _order.Enqueue(txn);
        while (_events.Count > capacity)
        {
            _events.Remove(_order.Dequeue());
        }
    }
}
