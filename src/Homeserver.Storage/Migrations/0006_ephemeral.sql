-- 0003: ephemeral data (receipts, presence) and stored sync filters.
-- Forward only: never edit this file once it has shipped.

-- Read receipts: one per (room, receipt type, user, thread); thread_id '' is an unthreaded receipt.
--   event_stream  stream ordering of the receipted event: a receipt only moves forward (as Synapse)
--   stream_id     position in the global stream when the receipt was last written
-- m.read.private rows are only ever shown to their owner.
CREATE TABLE receipts (
    room_id         text   NOT NULL,
    receipt_type    text   NOT NULL,
    user_id         text   NOT NULL,
    thread_id       text   NOT NULL DEFAULT '',
    event_id        text   NOT NULL,
    event_stream    bigint NOT NULL,
    ts              bigint NOT NULL,
    stream_id       bigint NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_id);
CREATE INDEX receipts_event ON receipts (event_id);

-- The presence of local users, as last announced: written (at a new stream position) only when a change is
-- worth telling others about; per-device state and last-active bumps in between live in memory.
CREATE TABLE presence (
    user_id             text    PRIMARY KEY,
    state               text    NOT NULL,
    status_msg          text,
    last_active_ts      bigint  NOT NULL,
    last_user_sync_ts   bigint  NOT NULL,
    currently_active    boolean NOT NULL,
    stream_id           bigint  NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);
