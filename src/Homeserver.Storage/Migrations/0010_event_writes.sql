-- 0010: cheaper writes of events: no foreign keys on the rows written with every event, and a lighter index
-- for pruning notifications.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- A message adds an event row, its prev and auth edges, its search row and a forward extremity. Each foreign key
-- on those tables was a trigger run for every row, each a lookup of the referenced row (about six per message:
-- pg_stat_statements counted 42,733 event lookups and 22,651 room lookups for 10,041 events). The rows are written
-- together, by the room's one writer, in one statement batch that succeeds or fails as a whole, so the references
-- hold by construction (Synapse has no foreign keys on these tables either). The keys of state tables, written
-- only with state changes, stay.
-- Nothing deletes events; whatever purges them one day deletes their edges, relations and search rows itself (the
-- ON DELETE CASCADE of those keys goes with them).
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_room_nid_fkey;
ALTER TABLE event_prev_events DROP CONSTRAINT IF EXISTS event_prev_events_event_nid_fkey;
ALTER TABLE event_auth_events DROP CONSTRAINT IF EXISTS event_auth_events_event_nid_fkey;
ALTER TABLE forward_extremities DROP CONSTRAINT IF EXISTS forward_extremities_room_nid_fkey;
ALTER TABLE forward_extremities DROP CONSTRAINT IF EXISTS forward_extremities_event_nid_fkey;
ALTER TABLE event_relations DROP CONSTRAINT IF EXISTS event_relations_event_nid_fkey;
ALTER TABLE event_relations DROP CONSTRAINT IF EXISTS event_relations_room_nid_fkey;
ALTER TABLE event_search DROP CONSTRAINT IF EXISTS event_search_event_nid_fkey;
ALTER TABLE event_search DROP CONSTRAINT IF EXISTS event_search_room_nid_fkey;


-- Notifications: a message to a room of n local members stores n - 1 of them, each entered in three indexes; the
-- one on the creation time served only the hourly pruning of month-old rows. A BRIN index (a summary of each range
-- of table pages) serves it and costs next to nothing to keep. Rows are added in time order; where space freed by
-- read notifications takes newer rows, the pruning reads more pages (at worst the whole table, once an hour).
DROP INDEX event_push_actions_ts;
CREATE INDEX event_push_actions_ts ON event_push_actions USING brin (ts);
