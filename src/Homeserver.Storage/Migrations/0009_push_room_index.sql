-- 0009: notifications found by user, room and stream position.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- The unread counts of /sync add what was stored after the last count of each room, and moving a read position
-- deletes the rows between the old and the new position of one room: both are a range of stream positions within a
-- user's room. The index this replaces had the thread between the room and the position, so neither could use the
-- range (every row of the user's room was visited); threads are a filter within the range.
CREATE INDEX event_push_actions_room_stream ON event_push_actions (user_id, room_id, stream_ordering);
DROP INDEX event_push_actions_room;
