-- 0015: a local send's client transaction is answered from its event row.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- Since 0013 every locally sent event carries its client transaction (txn_device_id, txn_id), and readers take it
-- from there. event_txn_ids then only answered a retried send through its primary key: a second row (heap tuple and
-- primary-key entry, ~150 bytes of WAL) written with every send, on the room writer's serial path. A unique index on
-- the event row's transaction does the same: a retry that reaches the database fails the batch on it, and the writer
-- answers it with the stored event. The rows of event_txn_ids are all on the events already (0013 copied those of
-- each event's sender; a transaction of another user than the event's sender is not one any send wrote).
CREATE UNIQUE INDEX events_txn ON events (sender, txn_device_id, txn_id) WHERE txn_id IS NOT NULL;
DROP TABLE event_txn_ids;
