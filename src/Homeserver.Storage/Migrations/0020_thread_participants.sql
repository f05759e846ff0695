-- 0020: who took part in each thread, for /threads?include=participated.
-- Forward only: never edit this file once it has shipped; add a new migration instead.
--
-- A user took part in a thread when they sent its root or a reply in the timeline (as Synapse's /threads counts it).
-- /threads?include=participated kept a thread by looking for such a reply while walking every thread of the room in
-- order, so a user in few of a room's many threads made a page read most of them: 63 ms for a user in none of 2,000
-- threads of 18,000 replies (ROOMS.md, eighteenth session). A row per thread and participant makes that page the
-- user's own threads. Rows are added by the batch's rows statement (PersistWrites: a reply's sender, the root's sender,
-- and a root that arrives after its replies, as backfill brings them) and removed when a redaction takes a user's last
-- reply in a thread whose root they did not send.
--
--   thread_id   the root event's ID (as threads.thread_id)
--   user_id     a participant: the root's sender or the sender of a reply in the timeline
CREATE TABLE thread_participants (
    room_nid  bigint NOT NULL REFERENCES rooms (room_nid),
    user_id   text   NOT NULL,
    thread_id text   NOT NULL,
    PRIMARY KEY (room_nid, user_id, thread_id)
);

INSERT INTO thread_participants (room_nid, user_id, thread_id)
SELECT r.room_nid, x.sender, r.relates_to_id
FROM event_relations r
JOIN events x ON x.event_nid = r.event_nid
WHERE r.rel_type = 'm.thread'
  AND x.stream_ordering IS NOT NULL AND NOT x.outlier AND x.rejection_reason IS NULL AND NOT x.soft_failed
UNION
SELECT t.room_nid, p.sender, t.thread_id
FROM threads t
JOIN events p ON p.event_id = t.thread_id AND p.room_nid = t.room_nid;
