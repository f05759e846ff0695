-- 0006: the rest of the client-server room API: relations (edits, reactions, threads, references),
-- full-text search, content reports, forgotten rooms, and lookups by timestamp.
-- Forward only: never edit this file once it has shipped.

-- One row per event that relates to another (content."m.relates_to" with a rel_type and an event_id),
-- written in the same transaction as the event. Rejected events get no row; a redaction removes the row
-- of its target (a redacted event no longer relates to anything, as the spec's redaction algorithm drops
-- m.relates_to). Soft-failed events keep their row but are left out by the queries, like in /messages.
--   relates_to_id   the parent event (may be unknown to us)
--   aggregation_key annotations only (content."m.relates_to".key)
CREATE TABLE event_relations (
    event_nid           bigint PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid            bigint NOT NULL REFERENCES rooms (room_nid),
    relates_to_id       text   NOT NULL,
    rel_type            text   NOT NULL,
    aggregation_key     text
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, rel_type);
-- /threads lists a room's thread roots.
CREATE INDEX event_relations_threads ON event_relations (room_nid, relates_to_id) WHERE rel_type = 'm.thread';

-- Searchable text of m.room.message (content.body), m.room.name (content.name) and m.room.topic
-- (content.topic), as PostgreSQL full-text vectors with the 'english' configuration (as Synapse).
CREATE TABLE event_search (
    event_nid           bigint   PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
    room_nid            bigint   NOT NULL REFERENCES rooms (room_nid),
    search_key          text     NOT NULL,
    vector              tsvector NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING gin (vector);
CREATE INDEX event_search_room ON event_search (room_nid);

-- Reports of events (event_id set) and of whole rooms (event_id NULL) to the server's administrators.
CREATE TABLE content_reports (
    report_id           bigserial PRIMARY KEY,
    room_id             text   NOT NULL,
    event_id            text,
    user_id             text   NOT NULL,
    reason              text,
    score               integer,
    received_ts         bigint NOT NULL
);
CREATE INDEX content_reports_room ON content_reports (room_id);

-- A user who left a room may forget it: it leaves their sync and room lists until they join again.
ALTER TABLE room_memberships ADD COLUMN forgotten boolean NOT NULL DEFAULT false;

-- /timestamp_to_event: the closest event of a room to a point in time.
CREATE INDEX events_room_ts ON events (room_nid, origin_server_ts) WHERE stream_ordering IS NOT NULL;
