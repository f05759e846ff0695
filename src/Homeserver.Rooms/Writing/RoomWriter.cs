using System.Collections.Concurrent;
using System.Diagnostics;
using Homeserver.Core;
using Homeserver.Core.Streams;
using Homeserver.Rooms.Auth;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;
using Microsoft.Extensions.Logging;

namespace Homeserver.Rooms.Writing;

/// <summary>The result of sending one local event.</summary>
public sealed record SendResult(string EventId, long? StreamOrdering, Pdu Event);

/// <summary>
/// The one writer of each room (architecture rule 5): every event written into a room goes through that
/// room's queue, so building an event on the forward extremities, checking it against the current state
/// and persisting it never race with another write to the same room. Requests that queue up while a batch
/// is being written are taken together and persisted in one transaction (group commit): each event's
/// prev_event is the one before it, so concurrent senders extend one chain instead of forking the DAG.
/// Reads never take the writer's lock.
/// </summary>
public sealed partial class RoomWriter(
    IRoomStore store,
    EventFactory factory,
    EventCache eventCache,
    EventLookup lookup,
    StreamPositions streams,
    IEnumerable<IRoomEventListener> listeners,
    IEnumerable<IRoomCommitListener> commitListeners,
    TimeProvider time,
    ILogger<RoomWriter> logger)
{
    /// <summary>The most prev_events a new event references (the DAG is merged a few branches at a time).</summary>
    public const int MaxPrevEvents = 10;

    /// <summary>The most requests persisted in one transaction.</summary>
    public const int MaxBatch = 200;

    /// <summary>Events larger than this (as JSON) are refused, as the spec limits PDUs to 64 KiB.</summary>
    public const int MaxEventBytes = 65536;

    /// <summary>The longest a busy room's writer waits for its senders to come back before it builds the next batch.</summary>
    public static readonly TimeSpan GatherWait = TimeSpan.FromMilliseconds(1);

    /// <summary>Client transactions each room's writer remembers (a retry is answered from memory; older ones from the database).</summary>
    public const int RecentTransactionsPerRoom = 1024;

    private readonly ConcurrentDictionary<string, RoomQueue> _rooms = new(StringComparer.Ordinal);
    private readonly IRoomEventListener[] _listeners = listeners.ToArray();
    private readonly IRoomCommitListener[] _commitListeners = commitListeners.ToArray();

    /// <summary>Sends one local event into an existing room.</summary>
    public async Task<SendResult> SendAsync(RoomRecord room, EventDraft draft, TransactionRef? txn, CancellationToken ct)
    {
        var results = await SubmitAsync(room, [draft], txn, atomic: false, ct);
        return results[0];
    }

    /// <summary>
    /// Sends several local events that must all succeed or none persist (e.g. the initial events of a new room).
    /// </summary>
    public Task<IReadOnlyList<SendResult>> SendAllAsync(RoomRecord room, IReadOnlyList<EventDraft> drafts, CancellationToken ct) =>
        SubmitAsync(room, drafts, null, atomic: true, ct);

    /// <summary>
    /// Creates a room from its initial events (the first is <c>m.room.create</c>): all persist or none do.
    /// For room version 12 the room ID is derived from the create event; before, <paramref name="roomIdBeforeV12"/> is used.
    /// </summary>
    public async Task<(RoomRecord Room, IReadOnlyList<SendResult> Events)> CreateRoomAsync(
        RoomVersion version, string roomIdBeforeV12, IReadOnlyList<EventDraft> drafts, CancellationToken ct)
    {
        if (drafts.Count == 0 || drafts[0].Type != EventTypes.Create || drafts[0].StateKey != string.Empty)
        {
            throw new ArgumentException("the first initial event of a room must be m.room.create", nameof(drafts));
        }

        CheckContent(version, drafts);

        Pdu? prebuiltCreate = null;
        var roomId = roomIdBeforeV12;
        if (version.RoomIdIsCreateEventHash)
        {
            // The room ID is the create event's hash, so the create event is built before the room exists.
            prebuiltCreate = factory.BuildLocal(version, null, drafts[0], [], [], 1, time.GetUtcNow().ToUnixTimeMilliseconds());
            roomId = "!" + prebuiltCreate.EventId[1..];
        }

        var room = await store.CreateRoomAsync(roomId, version, time.GetUtcNow().ToUnixTimeMilliseconds(), ct);
        var request = new WriteRequest(drafts, null, Atomic: true) { PrebuiltFirst = prebuiltCreate };
        Queue(room).Enqueue(request);
        IReadOnlyList<SendResult> results;
        using (ct.Register(() => request.Completion.TrySetCanceled(ct)))
        {
            results = await request.Completion.Task;
        }

        await WaitUntilReadableAsync(results, ct);
        return (room, results);
    }

    /// <summary>The room's head as the writer sees it (loaded if needed). Do not hold on to it: it is replaced on every write.</summary>
    public Task<RoomHead> GetHeadAsync(RoomRecord room, CancellationToken ct) => Queue(room).GetHeadAsync(ct);

    /// <summary>
    /// Content a client wrote must be encodable as the room version's canonical JSON (no floats, integers within
    /// ±(2^53 - 1) for strict versions): checked before it joins a batch, so that one bad event is a 400 for its sender
    /// and never fails the other events committed with it.
    /// </summary>
    private static void CheckContent(RoomVersion version, IReadOnlyList<EventDraft> drafts)
    {
        var mode = Homeserver.Crypto.CanonicalJson.ModeFor(version);
        foreach (var draft in drafts)
        {
            if (!Homeserver.Crypto.CanonicalJson.IsValid(System.Text.Json.JsonSerializer.SerializeToElement(draft.Content), mode, out var problem))
            {
                throw MatrixException.BadJson("Event content is not valid canonical JSON: " + problem);
            }
        }
    }

    private async Task<IReadOnlyList<SendResult>> SubmitAsync(RoomRecord room, IReadOnlyList<EventDraft> drafts, TransactionRef? txn, bool atomic, CancellationToken ct)
    {
        CheckContent(room.Version, drafts);
        var request = new WriteRequest(drafts, txn, atomic);
        Queue(room).Enqueue(request);
        IReadOnlyList<SendResult> results;
        using (ct.Register(() => request.Completion.TrySetCanceled(ct)))
        {
            results = await request.Completion.Task;
        }

        await WaitUntilReadableAsync(results, ct);
        return results;
    }

    /// <summary>The sender reads the room right after (<c>/messages</c>, a room's initial sync): its events must be in it.</summary>
    private Task WaitUntilReadableAsync(IReadOnlyList<SendResult> results, CancellationToken ct)
    {
        var last = 0L;
        foreach (var result in results)
        {
            last = Math.Max(last, result.StreamOrdering ?? 0);
        }

        return streams.WaitUntilReadableAsync(last, ct);
    }

    private RoomQueue Queue(RoomRecord room) => _rooms.GetOrAdd(room.RoomId, _ => new RoomQueue(this, room));

    private sealed record WriteRequest(IReadOnlyList<EventDraft> Drafts, TransactionRef? Transaction, bool Atomic)
    {
        /// <summary>An already built first event (a v12 create event, whose ID is the room ID).</summary>
        public Pdu? PrebuiltFirst { get; init; }

        public TaskCompletionSource<IReadOnlyList<SendResult>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>One room's queue and cached head; drained by at most one task at a time.</summary>
    private sealed class RoomQueue(RoomWriter writer, RoomRecord room)
    {
        private readonly ConcurrentQueue<object> _queue = new();
        private readonly SemaphoreSlim _drainLock = new(1, 1);
        private readonly RecentTransactions _transactions = new(RecentTransactionsPerRoom);
        private RoomHead? _head;
        private int _draining;
        private TaskCompletionSource? _arrival;

        public async Task<RoomHead> GetHeadAsync(CancellationToken ct)
        {
            if (Volatile.Read(ref _head) is { } head)
            {
                return head;
            }

            await _drainLock.WaitAsync(ct);
            try
            {
                return _head ??= await writer.LoadHeadAsync(room, ct);
            }
            finally
            {
                _drainLock.Release();
            }
        }

        public void Enqueue(WriteRequest request) => Enqueue((object)request);

        public void Enqueue(CustomOperation operation) => Enqueue((object)operation);

        private void Enqueue(object item)
        {
            _queue.Enqueue(item);
            // A gathering writer waits for the next arrival (WaitForArrivalAsync).
            Volatile.Read(ref _arrival)?.TrySetResult();

            if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
            {
                // On the caller's thread until the drain first waits (for the database, as a rule, once the batch is
                // built and sent): the caller is about to wait for the answer anyway, and a queue that was idle (every
                // send of a lone sender) saves a hop through the thread pool.
                _ = DrainAsync();
            }
        }

        /// <summary>
        /// After a batch that carried several requests, gathers the next one: waits (at most <see cref="GatherWait"/>) until
        /// as many requests have come, building each as it arrives, and sends the batch. Senders that were just answered come
        /// back with their next request within about a millisecond, and waiting for them makes one larger batch instead of
        /// several small ones: each batch costs one database round trip and one WAL flush whatever its size, and that cost,
        /// not the CPU, bounds a busy room (eight senders over HTTP: 3.5 sends per batch without the wait, 5.0-5.5 with it,
        /// and 15-25% more events per second; ROOMS.md). Building while the others are still on their way takes the
        /// building (signing, hashing, the auth check: ~0.1 ms per event) off the room's serial path, but for the last
        /// request's. Gathering stops at an operation that is not a local write (it runs after the batch). Returns the
        /// batch sent, or null when nothing is to be written.
        /// </summary>
        private async Task<SentBatch?> GatherAndSendAsync(int target)
        {
            // Real time, not the writer's TimeProvider: a test's frozen clock must not stall the room.
            var started = Stopwatch.GetTimestamp();
            Task? timeout = null;
            BatchBuilder? builder = null;
            WriteRequest? taking = null;
            try
            {
                while (true)
                {
                    // Only this task takes from the queue, so the item peeked at is the one dequeued.
                    while ((builder?.Requests.Count ?? 0) < MaxBatch && _queue.TryPeek(out var item) && item is WriteRequest && _queue.TryDequeue(out item))
                    {
                        var request = (WriteRequest)item;
                        if (request.Completion.Task.IsCompleted)
                        {
                            continue;
                        }

                        taking = request;
                        builder ??= new BatchBuilder(writer, room, _head ?? await writer.LoadHeadAsync(room, CancellationToken.None), _transactions);
                        await builder.AddAsync(request);
                        taking = null;
                    }

                    var count = builder?.Requests.Count ?? 0;
                    var left = GatherWait - Stopwatch.GetElapsedTime(started);
                    if (count >= target || count >= MaxBatch || !_queue.IsEmpty || left <= TimeSpan.Zero || timeout is { IsCompleted: true })
                    {
                        break;
                    }

                    // One timer for the whole gathering, started when it first has to wait (timers count whole milliseconds:
                    // a shorter delay would end at once).
                    timeout ??= Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(left.TotalMilliseconds)));
                    await WaitForArrivalAsync(timeout);
                }
            }
            catch (Exception e)
            {
                // Nothing of this batch was sent: the head is still right. The request being taken fails too, whether or
                // not it had joined the builder (loading the head may have failed before there was one).
                var failed = builder?.Requests.ToList() ?? [];
                if (taking is not null && !failed.Contains(taking))
                {
                    failed.Add(taking);
                }

                Fail(failed, e);
                return null;
            }

            return builder?.Finish() is { } built ? writer.Send(built) : null;
        }

        /// <summary>Waits until something is queued, or <paramref name="timeout"/>.</summary>
        private async Task WaitForArrivalAsync(Task timeout)
        {
            // Set before looking at the queue: an item queued after the look completes it.
            var arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _arrival, arrival);
            try
            {
                if (_queue.IsEmpty)
                {
                    await Task.WhenAny(arrival.Task, timeout);
                }
            }
            finally
            {
                Interlocked.Exchange(ref _arrival, null);
            }
        }

        private async Task DrainAsync()
        {
            while (true)
            {
                var items = TakeQueued();
                if (items.Count == 0)
                {
                    Volatile.Write(ref _draining, 0);

                    // A request may have arrived between the last TryDequeue and releasing the flag.
                    if (_queue.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
                    {
                        return;
                    }

                    continue;
                }

                await _drainLock.WaitAsync();
                try
                {
                    // While a batch of messages commits, the requests that queued up meanwhile are built into the next
                    // batch, which is sent as soon as the first is committed, before the first is answered. Once batches
                    // carry several requests, the writer instead answers the batch and gathers the next (GatherAndSendAsync).
                    SentBatch? inFlight = null;
                    while (true)
                    {
                        if (items.Count > 0)
                        {
                            inFlight = await RunAsync(items, inFlight);
                        }

                        if (inFlight is { Built.Requests.Count: > 1 } busy)
                        {
                            await FinishAsync(busy);
                            inFlight = await GatherAndSendAsync(busy.Built.Requests.Count);
                            items = TakeQueued();
                            continue;
                        }

                        items = inFlight is null ? [] : TakeQueued();
                        if (items.Count == 0)
                        {
                            break;
                        }
                    }

                    if (inFlight is not null)
                    {
                        await FinishAsync(inFlight);
                    }
                }
                finally
                {
                    _drainLock.Release();
                }
            }
        }

        private List<object> TakeQueued()
        {
            var items = new List<object>();
            while (items.Count < MaxBatch && _queue.TryDequeue(out var item))
            {
                if (item is not WriteRequest { Completion.Task.IsCompleted: true })
                {
                    items.Add(item);
                }
            }

            return items;
        }

        /// <summary>Runs queued items in order; returns the batch still committing, if any.</summary>
        private async Task<SentBatch?> RunAsync(List<object> items, SentBatch? inFlight)
        {
            var i = 0;
            while (i < items.Count)
            {
                if (items[i] is CustomOperation operation)
                {
                    i++;
                    if (inFlight is not null)
                    {
                        await FinishAsync(inFlight);
                        inFlight = null;
                    }

                    try
                    {
                        var head = _head ?? await writer.LoadHeadAsync(room, CancellationToken.None);
                        _head = await operation.Run(head);
                        operation.Done.TrySetResult();
                    }
                    catch (Exception e)
                    {
                        _head = null;
                        operation.Done.TrySetException(e);
                    }

                    continue;
                }

                // Consecutive local writes are persisted together (group commit).
                var batch = new List<WriteRequest>();
                while (i < items.Count && items[i] is WriteRequest w)
                {
                    batch.Add(w);
                    i++;
                }

                // Only messages follow a batch that is still committing: a state change is built on the state the batch
                // before it made, and a batch with state changes is committed before anything is built on it.
                if (inFlight is not null && (!inFlight.Built.MessagesOnly || batch.Any(ChangesState)))
                {
                    await FinishAsync(inFlight);
                    inFlight = null;
                }

                BuiltBatch? built = null;
                try
                {
                    var head = inFlight?.HeadAfter ?? _head ?? await writer.LoadHeadAsync(room, CancellationToken.None);
                    built = await writer.BuildBatchAsync(room, head, batch, _transactions);
                }
                catch (Exception e)
                {
                    // Nothing of this batch was sent: the head is still right.
                    Fail(batch, e);
                }

                SentBatch? sent = null;
                if (inFlight is not null)
                {
                    // The next batch goes to the database the moment the one it was built on is committed; answering that
                    // one and telling the listeners happens during the next one's round trip.
                    var committed = await WaitCommittedAsync(inFlight);
                    if (committed && built is not null)
                    {
                        sent = writer.Send(built);
                    }

                    await FinishAsync(inFlight);
                    if (!committed && built is not null)
                    {
                        // Built on events that were not stored: built again on the head as it is, and written on its own.
                        await RunAloneAsync(Unanswered(batch));
                    }
                }
                else if (built is not null)
                {
                    sent = writer.Send(built);
                }

                inFlight = sent;
            }

            return inFlight;
        }

        private async Task RunAloneAsync(List<WriteRequest> batch)
        {
            try
            {
                _head = await writer.ProcessBatchAsync(room, _head, batch, _transactions, published => _head = published);
            }
            catch (Exception e)
            {
                _head = null;
                Fail(batch, e);
            }
        }

        private void Fail(IEnumerable<WriteRequest> batch, Exception e)
        {
            writer.LogBatchFailed(e, room.RoomId);
            foreach (var r in batch)
            {
                r.Completion.TrySetException(e);
            }
        }

        private static bool ChangesState(WriteRequest request) =>
            request.PrebuiltFirst is not null || request.Drafts.Any(d => d.StateKey is not null);

        /// <summary>Waits for a sent batch to commit, then answers it (or writes it again, see FinishBatchAsync).</summary>
        private async Task FinishAsync(SentBatch sent)
        {
            try
            {
                _head = await writer.FinishBatchAsync(room, sent, _head, _transactions, published => _head = published);
            }
            catch (Exception e)
            {
                // The head may be stale now (e.g. the transaction failed after the database changed): reload it next time.
                _head = null;
                Fail(sent.Built.Requests, e);
            }
        }

        /// <summary>Forgets the cached head (after a write outside the queue changed the room).</summary>
        public void Invalidate() => _head = null;

        /// <summary>
        /// Makes <paramref name="head"/> the cached head before the operation running on this queue returns it (only
        /// that operation may call this: it holds the queue).
        /// </summary>
        public void Publish(RoomHead head) => Volatile.Write(ref _head, head);
    }

    /// <summary>An arbitrary write run on a room's queue with the current head; returns the new head.</summary>
    private sealed class CustomOperation(Func<RoomHead, Task<RoomHead>> run)
    {
        public Func<RoomHead, Task<RoomHead>> Run { get; } = run;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Runs <paramref name="operation"/> on the room's queue, after every write queued before it.</summary>
    private async Task<T> RunOnQueueAsync<T>(RoomRecord room, Func<RoomHead, Task<(RoomHead Head, T Result)>> operation, CancellationToken ct)
    {
        T result = default!;
        var custom = new CustomOperation(async head =>
        {
            var (newHead, value) = await operation(head);
            result = value;
            return newHead;
        });
        Queue(room).Enqueue(custom);
        await custom.Done.Task.WaitAsync(ct);
        return result;
    }

    private Task<RoomHead> LoadHeadAsync(RoomRecord room, CancellationToken ct) => store.LoadHeadAsync(room, ct);

    /// <summary>
    /// Builds, checks and persists a batch of requests on its own (nothing is in flight before it); returns the new head.
    /// </summary>
    private async Task<RoomHead> ProcessBatchAsync(RoomRecord room, RoomHead? cachedHead, List<WriteRequest> batch, RecentTransactions recent, Action<RoomHead> publishHead)
    {
        var head = cachedHead ?? await store.LoadHeadAsync(room, CancellationToken.None);
        var built = await BuildBatchAsync(room, head, batch, recent);
        return built is null ? head : await FinishBatchAsync(room, Send(built), head, recent, publishHead);
    }

    /// <summary>
    /// Waits for a sent batch to commit; answers its requests and tells the listeners; returns the new head.
    /// <paramref name="currentHead"/> is the room's head once every batch before this one finished (null if unknown).
    /// A client transaction that is not in the room's memory is recognised by the database (its primary key): nothing
    /// of the batch is written, those requests are answered with the events stored for them, and the rest is built and
    /// written again.
    /// </summary>
    private async Task<RoomHead> FinishBatchAsync(RoomRecord room, SentBatch sent, RoomHead? currentHead, RecentTransactions recent, Action<RoomHead> publishHead)
    {
        var ct = CancellationToken.None; // once taken, a batch is finished even if a client goes away
        var built = sent.Built;
        PersistResult result;
        try
        {
            result = await sent.Persist;
        }
        catch (DuplicateTransactionException duplicate)
        {
            // Nothing was written. Answer the repeats and try the others again.
            sent.Reservation.Dispose();
            foreach (var (txn, eventId) in duplicate.Stored)
            {
                recent.Add(txn, eventId);
            }

            // Requests already answered (refused by the auth rules, repeats of older transactions) are not retried.
            var unanswered = Unanswered(built.Requests);
            var rest = await AnswerRepeatsAsync(unanswered, recent, ct);
            if (rest.Count == unanswered.Count)
            {
                throw new InvalidOperationException("the store reported a repeated transaction that is not in the batch", duplicate);
            }

            return await ProcessBatchAsync(room, currentHead, rest, recent, publishHead);
        }
        catch
        {
            sent.Reservation.Dispose();
            throw;
        }

        var toPersist = built.ToPersist;
        var persisted = new List<PersistedEvent>(toPersist.Count);
        try
        {
            for (var i = 0; i < toPersist.Count; i++)
            {
                persisted.Add(new PersistedEvent(toPersist[i].Event, result.StreamOrderings[i], false));
            }

            TellCommitted(room, persisted, result.Head, searchDeferred: true);
        }
        finally
        {
            sent.Reservation.Dispose();
        }

        foreach (var (txn, eventId) in built.TxnsInBatch)
        {
            recent.Add(txn, eventId);
        }

        var orderings = new Dictionary<string, long?>(StringComparer.Ordinal);
        for (var i = 0; i < toPersist.Count; i++)
        {
            eventCache.Add(toPersist[i].Event);
            orderings[toPersist[i].Event.EventId] = result.StreamOrderings[i];
        }

        // The new head is published before anyone is answered: a client that reads the room right after its send was
        // answered (joined members after a join, state after a state event) must see what it just wrote.
        publishHead(result.Head);
        foreach (var (request, results) in built.Completions)
        {
            request.Completion.TrySetResult(results.Select(r => r with { StreamOrdering = orderings[r.EventId] }).ToList());
        }

        foreach (var (request, txn) in built.RepeatsInBatch)
        {
            var eventId = built.TxnsInBatch[txn];
            request.Completion.TrySetResult([new SendResult(eventId, null, built.BuiltInBatch[eventId])]);
        }

        // After the release: listeners that read up to the stream's current position (the federation sender) find the
        // batch's events there.
        foreach (var listener in _listeners)
        {
            try
            {
                listener.OnPersisted(room, persisted, result.Head);
            }
            catch (Exception e)
            {
                LogListenerFailed(e, listener.GetType().Name, room.RoomId);
            }
        }

        return result.Head;
    }

    private static List<WriteRequest> Unanswered(IEnumerable<WriteRequest> requests) => requests.Where(r => !r.Completion.Task.IsCompleted).ToList();

    /// <summary>Completes the requests whose transaction already created an event; returns the others.</summary>
    private async Task<List<WriteRequest>> AnswerRepeatsAsync(List<WriteRequest> batch, RecentTransactions recent, CancellationToken ct)
    {
        var rest = new List<WriteRequest>(batch.Count);
        foreach (var request in batch)
        {
            if (request.Transaction is { } txn && recent.Find(txn) is { } existing)
            {
                var ev = (await GetEventsAsync([existing], ct)).GetValueOrDefault(existing);
                request.Completion.TrySetResult([new SendResult(existing, null, ev!)]);
            }
            else
            {
                rest.Add(request);
            }
        }

        return rest;
    }

    /// <summary>A batch built and checked, not yet handed to the store.</summary>
    private sealed class BuiltBatch
    {
        public required RoomHead Head { get; init; }

        public required List<WriteRequest> Requests { get; init; }

        public required List<EventToPersist> ToPersist { get; init; }

        public required List<(WriteRequest Request, List<SendResult> Results)> Completions { get; init; }

        public required Dictionary<TransactionRef, string> TxnsInBatch { get; init; }

        public required List<(WriteRequest Request, TransactionRef Txn)> RepeatsInBatch { get; init; }

        public required Dictionary<string, Pdu> BuiltInBatch { get; init; }

        /// <summary>No event of the batch is a state event: the room's state is the same after it.</summary>
        public bool MessagesOnly => ToPersist.All(e => e.Event.StateKey is null);
    }

    /// <summary>
    /// Tells the commit listeners of a committed batch. Call it before the batch's stream positions are released: the
    /// search indexer and the notification evaluator must know of its events before their positions are readable
    /// (their recorded positions rely on it, see <see cref="IRoomCommitListener"/>).
    /// </summary>
    private void TellCommitted(RoomRecord room, IReadOnlyList<PersistedEvent> events, RoomHead head, bool searchDeferred)
    {
        foreach (var listener in _commitListeners)
        {
            try
            {
                listener.OnCommitted(room, events, head, searchDeferred);
            }
            catch (Exception e)
            {
                LogListenerFailed(e, listener.GetType().Name, room.RoomId);
            }
        }
    }

    /// <summary>A batch handed to the store and not yet finished.</summary>
    private sealed class SentBatch(BuiltBatch built, StreamPositions.Reservation reservation, Task<PersistResult> persist)
    {
        public BuiltBatch Built { get; } = built;

        public StreamPositions.Reservation Reservation { get; } = reservation;

        public Task<PersistResult> Persist { get; } = persist;

        /// <summary>The room's head once this batch of messages is committed (its last event the one forward extremity).</summary>
        public RoomHead HeadAfter => Built.Head with
        {
            ForwardExtremities = [new Extremity(Built.ToPersist[^1].Event.EventId, Built.ToPersist[^1].Event.Depth)],
            LastStreamOrdering = Math.Max(Built.Head.LastStreamOrdering, Reservation.Last),
        };
    }

    /// <summary>Hands a built batch to the store (its stream positions are reserved now, in the order batches are sent).</summary>
    private SentBatch Send(BuiltBatch built)
    {
        var removed = built.Head.ForwardExtremities.Select(e => e.EventId).ToList();
        var reservation = streams.Reserve(built.ToPersist.Count);
        var batch = new PersistBatch(built.ToPersist, removed, [built.ToPersist[^1].Event.EventId], CurrentStateIsStateAfterLastEvent: true) { NewlyBuilt = true, DeferSearch = true };
        return new SentBatch(built, reservation, store.PersistAsync(built.Head, batch, reservation.First, CancellationToken.None));
    }

    /// <summary>Whether a sent batch committed (a failure is dealt with when the batch is finished).</summary>
    private static async Task<bool> WaitCommittedAsync(SentBatch sent)
    {
        try
        {
            await sent.Persist;
            return true;
        }
        catch
        {
            return false;
        }
    }

    /// <summary>
    /// Builds and checks a batch of requests on <paramref name="head"/>; null when nothing is to be written (every
    /// request was answered or refused).
    /// </summary>
    private async Task<BuiltBatch?> BuildBatchAsync(RoomRecord room, RoomHead head, List<WriteRequest> batch, RecentTransactions recent)
    {
        var builder = new BatchBuilder(this, room, head, recent);
        foreach (var request in batch)
        {
            await builder.AddAsync(request);
        }

        return builder.Finish();
    }

    private static Pdu CheckPrebuilt(Pdu create, List<Extremity> extremities)
    {
        if (extremities.Count > 0)
        {
            throw new MatrixException(MatrixErrorCode.RoomInUse, 400, "Room already exists");
        }

        var check = EventAuth.Check(create, new Dictionary<StateKey, Pdu>());
        return check.Allowed ? create : throw MatrixException.Forbidden(check.Reason ?? "create event not allowed");
    }

    private async Task<Pdu> BuildAndCheckAsync(
        RoomVersion version,
        string roomId,
        EventDraft draft,
        Dictionary<StateKey, string> state,
        List<Extremity> extremities,
        Dictionary<string, Pdu> builtInBatch,
        CancellationToken ct)
    {
        var contentElement = System.Text.Json.JsonSerializer.SerializeToElement(draft.Content);
        var authKeys = AuthEventsSelection.GetRequiredKeys(version, draft.Type, draft.StateKey, draft.Sender, contentElement);
        var authIds = new List<string>(authKeys.Count);
        foreach (var key in authKeys)
        {
            if (state.TryGetValue(key, out var id))
            {
                authIds.Add(id);
            }
        }

        var prevs = extremities.OrderByDescending(e => e.Depth).Take(MaxPrevEvents).ToList();
        var depth = prevs.Count == 0 ? 1 : Math.Min(prevs.Max(p => p.Depth) + 1, long.MaxValue);

        // The auth rules always need the create event, even in v12 where it is not listed in auth_events.
        var createKey = new StateKey(EventTypes.Create, string.Empty);
        var checkKeys = authKeys.Contains(createKey) ? authKeys : [.. authKeys, createKey];
        var needed = new HashSet<string>(authIds, StringComparer.Ordinal);
        if (state.TryGetValue(createKey, out var createId))
        {
            needed.Add(createId);
        }

        if (version.UsesEventIdHashPairs)
        {
            needed.UnionWith(prevs.Select(p => p.EventId));
        }

        var known = new Dictionary<string, Pdu>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var id in needed)
        {
            if (builtInBatch.TryGetValue(id, out var b))
            {
                known[id] = b;
            }
            else
            {
                missing.Add(id);
            }
        }

        foreach (var (id, pdu) in await GetEventsAsync(missing, ct))
        {
            known[id] = pdu;
        }

        var isCreate = draft.Type == EventTypes.Create && draft.StateKey == string.Empty;
        var pduBuilt = factory.BuildLocal(
            version,
            isCreate && version.RoomIdIsCreateEventHash ? null : roomId,
            draft,
            prevs.Select(p => p.EventId).ToList(),
            authIds,
            depth,
            time.GetUtcNow().ToUnixTimeMilliseconds(),
            id => known.GetValueOrDefault(id));

        // The built event's own UTF-8 bytes (GetRawText would copy them into a string only to count them again).
        if (System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(pduBuilt.Json).Length > MaxEventBytes)
        {
            throw MatrixException.TooLarge("Event is larger than 65536 bytes");
        }

        var authState = new Dictionary<StateKey, Pdu>();
        foreach (var key in checkKeys)
        {
            if (state.TryGetValue(key, out var id) && known.TryGetValue(id, out var ev))
            {
                authState[key] = ev;
            }
        }

        var check = EventAuth.Check(pduBuilt, authState);
        if (!check.Allowed)
        {
            throw MatrixException.Forbidden(check.Reason ?? check.Rule ?? "Event not allowed by the room's authorisation rules");
        }

        return pduBuilt;
    }

    /// <summary>Events by ID through the cache.</summary>
    public Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> ids, CancellationToken ct) => lookup.GetEventsAsync(ids, ct);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing a batch of events to {RoomId} failed")]
    private partial void LogBatchFailed(Exception e, string roomId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Event listener {Listener} failed for {RoomId}")]
    private partial void LogListenerFailed(Exception e, string listener, string roomId);
}
