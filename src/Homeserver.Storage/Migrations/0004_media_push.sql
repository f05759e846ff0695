-- 0005: the content repository (media metadata; the bytes live in the media store on disk) and push
-- (rules, per-user notifications and read positions, pushers).
-- Forward only: never edit this file once it has shipped.

-- Media we host. The bytes are stored once per SHA-256 under media_store_path/content/ab/cd/<sha256>
-- (deduplicated), so several media IDs may share one file.
--   media_length/sha256  NULL while an asynchronous upload (POST /media/v1/create) waits for its content
--   authenticated        uploaded while enable_authenticated_media was on: only the authenticated endpoints serve it
--   url_cache            the URL this media was fetched from for a URL preview (NULL for uploads)
CREATE TABLE local_media (
    media_id        text    PRIMARY KEY,
    user_id         text    NOT NULL,
    created_ts      bigint  NOT NULL,
    media_type      text,
    upload_name     text,
    media_length    bigint,
    sha256          text,
    authenticated   boolean NOT NULL DEFAULT false,
    url_cache       text,
    last_access_ts  bigint  NOT NULL
);
-- Quotas sum a user's recent uploads; create limits count a user's pending IDs.
CREATE INDEX local_media_user ON local_media (user_id, created_ts);
CREATE INDEX local_media_pending ON local_media (user_id, created_ts) WHERE media_length IS NULL;
CREATE INDEX local_media_sha256 ON local_media (sha256);

-- Media of other servers we fetched and keep (a cache: it can be fetched again).
CREATE TABLE remote_media_cache (
    media_origin    text    NOT NULL,
    media_id        text    NOT NULL,
    media_type      text    NOT NULL,
    upload_name     text,
    media_length    bigint  NOT NULL,
    sha256          text    NOT NULL,
    authenticated   boolean NOT NULL DEFAULT false,
    created_ts      bigint  NOT NULL,
    last_access_ts  bigint  NOT NULL,
    PRIMARY KEY (media_origin, media_id)
);
CREATE INDEX remote_media_cache_sha256 ON remote_media_cache (sha256);

-- Thumbnails of local (media_origin = '') and cached remote media; their bytes are content-addressed too.
CREATE TABLE media_thumbnails (
    media_origin    text    NOT NULL,
    media_id        text    NOT NULL,
    width           integer NOT NULL,
    height          integer NOT NULL,
    method          text    NOT NULL,
    media_type      text    NOT NULL,
    length          bigint  NOT NULL,
    sha256          text    NOT NULL,
    PRIMARY KEY (media_origin, media_id, width, height, method, media_type)
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);

-- URL previews, kept for an hour so that every client in a room does not make us fetch the same page.
CREATE TABLE url_previews (
    url             text    PRIMARY KEY,
    fetched_ts      bigint  NOT NULL,
    expires_ts      bigint  NOT NULL,
    og              text    NOT NULL
);

-- Each user's push rules: their own rules (server_default = false, ordered by position within a kind) and their
-- changes to server-default rules (server_default = true: enabled and/or actions, NULL meaning "as defined").
CREATE TABLE push_rules (
    user_id         text    NOT NULL,
    kind            text    NOT NULL,
    rule_id         text    NOT NULL,
    server_default  boolean NOT NULL,
    position        integer NOT NULL,
    conditions      text,
    pattern         text,
    actions         text,
    enabled         boolean,
    PRIMARY KEY (user_id, kind, rule_id)
);

-- The notifications push rules gave each local user (only events whose actions notify). The queue of HTTP pushers
-- too: a pusher sends the rows after its last_stream_ordering. Rows the user has read are deleted unless they
-- highlight (GET /notifications shows highlights as read for a while); old rows are pruned.
--   thread_id  'main' for the main timeline, else the thread root's event ID
CREATE TABLE event_push_actions (
    user_id         text    NOT NULL,
    room_id         text    NOT NULL,
    event_id        text    NOT NULL,
    stream_ordering bigint  NOT NULL,
    thread_id       text    NOT NULL,
    actions         text    NOT NULL,
    highlight       boolean NOT NULL,
    ts              bigint  NOT NULL,
    PRIMARY KEY (user_id, stream_ordering)
);
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_id, thread_id, stream_ordering);
CREATE INDEX event_push_actions_ts ON event_push_actions (ts);

-- How far each user has read each room: thread_id '' for unthreaded receipts (the whole room), 'main' or a
-- thread root for threaded ones. A notification counts as read when its stream ordering is at or below either
-- the room's or its thread's position.
CREATE TABLE push_read_positions (
    user_id         text    NOT NULL,
    room_id         text    NOT NULL,
    thread_id       text    NOT NULL,
    stream_ordering bigint  NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
);

-- HTTP pushers. last_stream_ordering: the last notification handed to the gateway (or given up on);
-- failing_since: when deliveries started failing (we give up on a notification after a day of failures).
CREATE TABLE pushers (
    pusher_id           bigserial PRIMARY KEY,
    user_id             text    NOT NULL,
    device_id           text,
    kind                text    NOT NULL,
    app_id              text    NOT NULL,
    pushkey             text    NOT NULL,
    app_display_name    text    NOT NULL,
    device_display_name text    NOT NULL,
    profile_tag         text    NOT NULL,
    lang                text    NOT NULL,
    data                text    NOT NULL,
    pushkey_ts          bigint  NOT NULL,
    last_stream_ordering bigint NOT NULL,
    last_success_ts     bigint,
    failing_since       bigint,
    UNIQUE (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id);
