-- 0018: a room's threads, each with its latest reply, for /threads.
-- Forward only: never edit this file once it has shipped; add a new migration instead.
--
-- /threads lists a room's threads by their latest reply, newest first. It grouped every thread reply of the room
-- (event_relations joined with events) to find each thread's latest, whatever the page: 89 ms for a room of 18,000
-- replies in 2,000 threads, growing with the room. A row per thread, moved by each reply the room's writer persists
-- (in the batch's rows statement, PersistWrites) and by a redaction of its latest reply, makes a page the next rows
-- of an index in its order. Synapse keeps the same table (threads).
--
--   thread_id             the root event's ID (as event_relations.relates_to_id: the root may not be held)
--   latest_event_nid      the latest reply in the timeline (not an outlier, rejected or soft-failed), by
--   topological_ordering,  (depth, stream) as /messages orders events
--   stream_ordering
CREATE TABLE threads (
    room_nid             bigint NOT NULL REFERENCES rooms (room_nid),
    thread_id            text   NOT NULL,
    latest_event_nid     bigint NOT NULL,
    topological_ordering bigint NOT NULL,
    stream_ordering      bigint NOT NULL,
    PRIMARY KEY (room_nid, thread_id)
);
CREATE INDEX threads_room_latest ON threads (room_nid, topological_ordering, stream_ordering);

INSERT INTO threads (room_nid, thread_id, latest_event_nid, topological_ordering, stream_ordering)
SELECT DISTINCT ON (r.room_nid, r.relates_to_id) r.room_nid, r.relates_to_id, x.event_nid, x.topological_ordering, x.stream_ordering
FROM event_relations r
JOIN events x ON x.event_nid = r.event_nid
WHERE r.rel_type = 'm.thread'
  AND x.stream_ordering IS NOT NULL AND NOT x.outlier AND x.rejection_reason IS NULL AND NOT x.soft_failed
ORDER BY r.room_nid, r.relates_to_id, x.topological_ordering DESC, x.stream_ordering DESC;
