-- 0013: fewer rows and index entries written with every event.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- A message was three event_auth_events rows (one per auth event: three heap tuples, three primary-key entries and
-- ~460 bytes of WAL), and B-tree inserts are a quarter of PostgreSQL's CPU under a stream of messages (ROOMS.md). The
-- auth event IDs are in the event's JSON, which is what every reader of auth events parses anyway; the one query that
-- read the table (the federation sender's kick and ban check, for member events only) now reads them from there.
DROP TABLE event_auth_events;

-- The client transaction of a locally sent event, on its row: readers show it as unsigned.transaction_id to the
-- sending device, and joined event_txn_ids by event ID for it, which took a second text index on that table (~70
-- bytes per event, written with every send). event_txn_ids keeps its primary key: it answers a retried send.
-- The sender is the transaction's user.
ALTER TABLE events ADD COLUMN txn_device_id text, ADD COLUMN txn_id text;
UPDATE events e SET txn_device_id = t.device_id, txn_id = t.txn_id
FROM event_txn_ids t
WHERE t.event_id = e.event_id AND t.user_id = e.sender;
DROP INDEX event_txn_ids_event;
