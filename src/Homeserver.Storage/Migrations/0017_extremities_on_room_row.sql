-- 0017: a room's forward extremities as an array on its room_current_snapshot row instead of rows of their own.
--
-- Every batch of a room's writer deleted the extremity it built on and inserted its last event as the new one: two more
-- statements in its one, each opening a table and its index, a heap tuple and an index entry that turn dead at the next
-- batch, and a delete that stepped over the dead ones until vacuum came by (planned as a sequential scan while the
-- table was small: 60 µs and growing, one sender). The room's row is rewritten by every batch anyway (its stream
-- position): the extremities now go into that update (a HOT update, no index touched).
--
--   room_current_snapshot.forward_extremities   the event numbers (events.event_nid) of the room's forward extremities
--
-- A room whose extremities were stored without a current-snapshot row (none is expected: every batch that adds an
-- extremity gives the event a stream position, and with it the row) gets one on the state after the newest of them that
-- has a state; one with none (only outliers) keeps none, as its head was read with the empty state and no position.
ALTER TABLE room_current_snapshot ADD COLUMN forward_extremities bigint[] NOT NULL DEFAULT '{}';
INSERT INTO room_current_snapshot (room_nid, snapshot_nid, last_stream_ordering)
SELECT DISTINCT ON (f.room_nid) f.room_nid, e.state_after, coalesce(e.stream_ordering, 0)
FROM forward_extremities f JOIN events e ON e.event_nid = f.event_nid
WHERE e.state_after IS NOT NULL AND NOT EXISTS (SELECT 1 FROM room_current_snapshot s WHERE s.room_nid = f.room_nid)
ORDER BY f.room_nid, e.stream_ordering DESC NULLS LAST, e.event_nid DESC;
UPDATE room_current_snapshot s SET forward_extremities = f.nids
FROM (SELECT room_nid, array_agg(event_nid ORDER BY event_nid) AS nids FROM forward_extremities GROUP BY room_nid) f
WHERE f.room_nid = s.room_nid;
DROP TABLE forward_extremities;
