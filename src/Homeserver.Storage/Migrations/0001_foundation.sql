-- 0001: the foundation schema: the event DAG, state snapshots, stream positions,
-- users, devices, access tokens and account data.
-- Forward only: never edit this file once it has shipped; add 0002_... instead.

-- Rooms known to this server. room_nid is the internal numeric ID used by every other table.
CREATE TABLE rooms (
    room_nid        bigserial PRIMARY KEY,
    room_id         text      NOT NULL UNIQUE,
    room_version    text      NOT NULL,
    created_ts      bigint    NOT NULL
);

-- (event type, state key) interned to a number, so that state snapshots store pairs of integers.
CREATE TABLE state_keys (
    state_key_nid   bigserial PRIMARY KEY,
    event_type      text      NOT NULL,
    state_key       text      NOT NULL,
    UNIQUE (event_type, state_key)
);

-- Every event we know, including outliers (events we hold without their state, e.g. auth chains
-- fetched over federation) and rejected events (kept so we do not fetch them again).
--   stream_ordering       position in the global stream for events in the timeline (NULL for outliers)
--   topological_ordering  depth, used with stream_ordering to order /messages
--   state_before/after    state snapshot before the event and after it (equal for non-state events)
--   json                  the event as we received or built it, canonical JSON without "unsigned"
CREATE TABLE events (
    event_nid            bigserial PRIMARY KEY,
    event_id             text      NOT NULL UNIQUE,
    room_nid             bigint    NOT NULL REFERENCES rooms (room_nid),
    event_type           text      NOT NULL,
    state_key            text,
    state_key_nid        bigint    REFERENCES state_keys (state_key_nid),
    sender               text      NOT NULL,
    depth                bigint    NOT NULL,
    origin_server_ts     bigint    NOT NULL,
    stream_ordering      bigint    UNIQUE,
    topological_ordering bigint    NOT NULL,
    state_before         bigint,
    state_after          bigint,
    outlier              boolean   NOT NULL DEFAULT false,
    rejection_reason     text,
    soft_failed          boolean   NOT NULL DEFAULT false,
    redacted_by          text,
    json                 text      NOT NULL
);
CREATE INDEX events_room_stream ON events (room_nid, stream_ordering) WHERE stream_ordering IS NOT NULL;
CREATE INDEX events_room_topological ON events (room_nid, topological_ordering, stream_ordering) WHERE stream_ordering IS NOT NULL;
CREATE INDEX events_room_state ON events (room_nid, state_key_nid) WHERE state_key_nid IS NOT NULL;

-- DAG edges. The referenced event may not be known yet (a gap), so it is stored by ID.
CREATE TABLE event_prev_events (
    event_nid       bigint NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
    prev_event_id   text   NOT NULL,
    PRIMARY KEY (event_nid, prev_event_id)
);
CREATE INDEX event_prev_events_prev ON event_prev_events (prev_event_id);

CREATE TABLE event_auth_events (
    event_nid       bigint NOT NULL REFERENCES events (event_nid) ON DELETE CASCADE,
    auth_event_id   text   NOT NULL,
    PRIMARY KEY (event_nid, auth_event_id)
);

-- The current forward extremities of each room (events with no known children in the timeline).
CREATE TABLE forward_extremities (
    room_nid        bigint NOT NULL REFERENCES rooms (room_nid),
    event_nid       bigint NOT NULL REFERENCES events (event_nid),
    PRIMARY KEY (room_nid, event_nid)
);

-- State snapshots, stored as deltas against a parent (see the storage README).
--   delta_keys[i] -> delta_events[i]; delta_events[i] = 0 means the key is absent from this snapshot.
--   A snapshot without parent holds its full state in the delta.
--   content_hash: an order-independent hash of the full state, so that identical snapshots are found
--   and shared (a match is confirmed by comparing contents, so a collision cannot merge different states).
CREATE TABLE state_snapshots (
    snapshot_nid    bigserial PRIMARY KEY,
    room_nid        bigint   NOT NULL REFERENCES rooms (room_nid),
    parent_nid      bigint   REFERENCES state_snapshots (snapshot_nid),
    chain_length    integer  NOT NULL,
    entry_count     integer  NOT NULL,
    content_hash    bytea    NOT NULL,
    delta_keys      bigint[] NOT NULL,
    delta_events    bigint[] NOT NULL
);
CREATE INDEX state_snapshots_hash ON state_snapshots (room_nid, content_hash);

-- The current state of each room, one row per (room, state key): what /state and membership queries read.
CREATE TABLE current_state (
    room_nid        bigint NOT NULL REFERENCES rooms (room_nid),
    state_key_nid   bigint NOT NULL REFERENCES state_keys (state_key_nid),
    event_nid       bigint NOT NULL REFERENCES events (event_nid),
    PRIMARY KEY (room_nid, state_key_nid)
);
-- The current snapshot of each room (the resolved state at the forward extremities).
CREATE TABLE room_current_snapshot (
    room_nid        bigint PRIMARY KEY REFERENCES rooms (room_nid),
    snapshot_nid    bigint NOT NULL REFERENCES state_snapshots (snapshot_nid),
    last_stream_ordering bigint NOT NULL
);

-- The current membership of every user (local or remote) in every room, from the current state.
-- What /sync, /joined_rooms, /joined_members and "who is in this room" read.
CREATE TABLE room_memberships (
    room_nid        bigint NOT NULL REFERENCES rooms (room_nid),
    user_id         text   NOT NULL,
    membership      text   NOT NULL,
    event_nid       bigint NOT NULL REFERENCES events (event_nid),
    stream_ordering bigint NOT NULL,
    -- the server part of user_id (everything after the first colon), for "which servers are in this room"
    user_server     text   GENERATED ALWAYS AS (substring(user_id from position(':' in user_id) + 1)) STORED,
    PRIMARY KEY (room_nid, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);
CREATE INDEX room_memberships_server ON room_memberships (user_server, membership, room_nid);

-- Outbound federation: how far each destination has received our events (by stream position), and its retry state.
-- What a destination still needs is derived from the events table, so a restart or an outage loses nothing.
CREATE TABLE federation_destinations (
    destination         text   PRIMARY KEY,
    last_sent_stream    bigint NOT NULL,
    retry_last_ts       bigint,
    retry_interval_ms   bigint NOT NULL DEFAULT 0
);

-- Client transaction IDs, so that a retried PUT /send returns the event it created the first time.
CREATE TABLE event_txn_ids (
    user_id         text   NOT NULL,
    device_id       text   NOT NULL,
    txn_id          text   NOT NULL,
    event_id        text   NOT NULL,
    created_ts      bigint NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX event_txn_ids_event ON event_txn_ids (event_id);

-- Room aliases we host (#alias:our.server -> room), and which rooms are in the public room directory.
CREATE TABLE room_aliases (
    room_alias      text   PRIMARY KEY,
    room_id         text   NOT NULL,
    creator         text   NOT NULL,
    created_ts      bigint NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

CREATE TABLE room_directory (
    room_id         text   PRIMARY KEY,
    published_ts    bigint NOT NULL
);

-- Local accounts.
CREATE TABLE users (
    user_id         text     PRIMARY KEY,
    password_hash   text,
    created_ts      bigint   NOT NULL,
    is_admin        boolean  NOT NULL DEFAULT false,
    is_guest        boolean  NOT NULL DEFAULT false,
    deactivated     boolean  NOT NULL DEFAULT false,
    erased          boolean  NOT NULL DEFAULT false,
    displayname     text,
    avatar_url      text
);

CREATE TABLE devices (
    user_id         text   NOT NULL REFERENCES users (user_id),
    device_id       text   NOT NULL,
    display_name    text,
    created_ts      bigint NOT NULL,
    last_seen_ts    bigint,
    last_seen_ip    text,
    last_seen_user_agent text,
    PRIMARY KEY (user_id, device_id)
);

-- Access and refresh tokens are stored as SHA-256 hashes: a database leak does not leak sessions.
CREATE TABLE access_tokens (
    token_hash      bytea  PRIMARY KEY,
    user_id         text   NOT NULL REFERENCES users (user_id),
    device_id       text   NOT NULL,
    created_ts      bigint NOT NULL,
    expires_ts      bigint,
    refresh_token_hash bytea UNIQUE,
    refresh_expires_ts bigint,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

-- Global (room_id = '') and per-room account data; stream_id is a position in the global stream.
CREATE TABLE account_data (
    user_id         text   NOT NULL,
    room_id         text   NOT NULL DEFAULT '',
    data_type       text   NOT NULL,
    content         text   NOT NULL,
    stream_id       bigint NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);

-- Other servers' signing keys (verified), and their latest signed key document (served to notary queries).
CREATE TABLE server_keys (
    server_name     text   NOT NULL,
    key_id          text   NOT NULL,
    public_key      bytea  NOT NULL,
    valid_until_ts  bigint NOT NULL,
    expired_ts      bigint,
    fetched_ts      bigint NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

CREATE TABLE server_key_documents (
    server_name     text   PRIMARY KEY,
    json            text   NOT NULL,
    valid_until_ts  bigint NOT NULL,
    fetched_ts      bigint NOT NULL
);

-- Small server-wide key/value facts (e.g. the next stream position reservation).
CREATE TABLE server_meta (
    key             text PRIMARY KEY,
    value           text NOT NULL
);
