using Homeserver.Core;
using Homeserver.Rooms.Events;
using Homeserver.Rooms.Persistence;

namespace Homeserver.Rooms.Writing;

public sealed partial class RoomWriter
{
    /// <summary>
    /// Builds a batch one request at a time, each event on the one before it, so that a busy room's writer can build
    /// the requests it gathers as they arrive (<c>RoomQueue.GatherAndSendAsync</c>) instead of all of them after the last.
    /// A request that is refused (auth rules, size, a repeated transaction answered from memory) is answered at once and
    /// leaves the batch as it was.
    /// </summary>
    private sealed class BatchBuilder(RoomWriter writer, RoomRecord room, RoomHead head, RecentTransactions recent)
    {
        private readonly List<WriteRequest> _requests = [];
        private readonly List<EventToPersist> _toPersist = [];
        private readonly List<(WriteRequest Request, List<SendResult> Results)> _completions = [];
        private readonly Dictionary<TransactionRef, string> _txnsInBatch = [];
        private readonly List<(WriteRequest Request, TransactionRef Txn)> _repeatsInBatch = [];
        private readonly Dictionary<string, Pdu> _builtInBatch = new(StringComparer.Ordinal);
        private Dictionary<StateKey, string> _state = new(head.State);
        private List<Extremity> _extremities = head.ForwardExtremities.ToList();

        /// <summary>The requests taken so far, answered or not (all of them fail together if building throws).</summary>
        public IReadOnlyList<WriteRequest> Requests => _requests;

        public async Task AddAsync(WriteRequest request)
        {
            var ct = CancellationToken.None; // once taken, a batch is finished even if a client goes away
            _requests.Add(request);
            if (request.Transaction is { } txn)
            {
                if (_txnsInBatch.ContainsKey(txn))
                {
                    // A repeat of a request in this batch: answered once the batch is committed (it may yet be rolled back).
                    _repeatsInBatch.Add((request, txn));
                    return;
                }

                if (recent.Find(txn) is { } existing)
                {
                    var ev = (await writer.GetEventsAsync([existing], ct)).GetValueOrDefault(existing);
                    request.Completion.TrySetResult([new SendResult(existing, null, ev!)]);
                    return;
                }
            }

            // An atomic request works on a copy so that a failure part-way leaves the batch untouched.
            var trialState = request.Atomic ? new Dictionary<StateKey, string>(_state) : _state;
            var trialExtremities = request.Atomic ? _extremities.ToList() : _extremities;
            var built = new List<Pdu>();
            MatrixException? failure = null;
            for (var d = 0; d < request.Drafts.Count; d++)
            {
                var draft = request.Drafts[d];
                try
                {
                    var pdu = d == 0 && request.PrebuiltFirst is { } prebuilt
                        ? CheckPrebuilt(prebuilt, trialExtremities)
                        : await writer.BuildAndCheckAsync(room.Version, room.RoomId, draft, trialState, trialExtremities, _builtInBatch, ct);
                    built.Add(pdu);
                    _builtInBatch[pdu.EventId] = pdu;
                    if (pdu.StateKey is not null)
                    {
                        trialState[new StateKey(pdu.Type, pdu.StateKey)] = pdu.EventId;
                    }

                    trialExtremities.Clear();
                    trialExtremities.Add(new Extremity(pdu.EventId, pdu.Depth));
                }
                catch (MatrixException e)
                {
                    failure = e;
                    break;
                }
            }

            if (failure is not null)
            {
                foreach (var pdu in built)
                {
                    _builtInBatch.Remove(pdu.EventId);
                }

                request.Completion.TrySetException(failure);
                if (!request.Atomic && built.Count > 0)
                {
                    // Only single-draft requests are non-atomic, so nothing was built; keep the invariant explicit.
                    throw new InvalidOperationException("a non-atomic request built events before failing");
                }

                return;
            }

            if (request.Atomic)
            {
                _state = trialState;
                _extremities = trialExtremities;
            }

            var results = new List<SendResult>();
            foreach (var pdu in built)
            {
                // The transaction ID is stored once per request, with its last event (the one a repeat is answered with).
                _toPersist.Add(new EventToPersist(
                    pdu,
                    _toPersist.Count == 0 ? new StateBefore.Existing(head.SnapshotId) : new StateBefore.AfterPrevious(),
                    ReferenceEquals(pdu, built[^1]) ? request.Transaction : null));
                results.Add(new SendResult(pdu.EventId, null, pdu));
            }

            if (request.Transaction is { } t && built.Count > 0)
            {
                _txnsInBatch[t] = built[^1].EventId;
            }

            _completions.Add((request, results));
        }

        /// <summary>The batch to persist; null when nothing is to be written (every request was answered or refused).</summary>
        public BuiltBatch? Finish()
        {
            if (_toPersist.Count == 0)
            {
                return null;
            }

            return new BuiltBatch
            {
                Head = head,
                Requests = _requests,
                ToPersist = _toPersist,
                Completions = _completions,
                TxnsInBatch = _txnsInBatch,
                RepeatsInBatch = _repeatsInBatch,
                BuiltInBatch = _builtInBatch,
            };
        }
    }
}
