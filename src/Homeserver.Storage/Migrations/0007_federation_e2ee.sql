-- 0005: end-to-end encryption across servers: remote users' device lists as their servers told us, and the
-- EDUs that must reach other servers even across a restart or an outage.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- A remote user's device list, kept up to date from m.device_list_update EDUs, only while the user shares a
-- room with one of our users (nobody tells us about the others; the rows go when that stops).
-- stream_id: the list's version as the user's server numbers it (the stream_id of GET /user/devices, or of the
-- last EDU applied). stale: an EDU did not follow the cached version (one was missed) or came before any
-- snapshot; the next key query fetches the list again, and stream_id is then the highest version heard of, so a
-- snapshot older than it is not taken as current.
-- The user's master and self-signing keys go to e2e_cross_signing_keys (stream_id 0: remote numbers never enter
-- our stream), where signature uploads find them.
CREATE TABLE e2e_remote_device_lists (
    user_id         text    PRIMARY KEY,
    stream_id       bigint  NOT NULL,
    stale           boolean NOT NULL,
    updated_ts      bigint  NOT NULL
);

-- The devices of a cached list: identity keys as canonical JSON (verified: owner, device and self-signature), NULL
-- for a device without keys; the display name if its server shares it.
CREATE TABLE e2e_remote_devices (
    user_id         text NOT NULL REFERENCES e2e_remote_device_lists (user_id) ON DELETE CASCADE,
    device_id       text NOT NULL,
    key_json        text,
    display_name    text,
    PRIMARY KEY (user_id, device_id)
);

-- EDUs stored before they are sent (send-to-device messages, device list and signing key updates), deleted once
-- the destination acknowledged the transaction that carried them; sent in edu_id order per destination.
CREATE TABLE federation_outbound_edus (
    edu_id          bigserial PRIMARY KEY,
    destination     text   NOT NULL,
    edu_type        text   NOT NULL,
    content         text   NOT NULL,
    created_ts      bigint NOT NULL
);
CREATE INDEX federation_outbound_edus_destination ON federation_outbound_edus (destination, edu_id);
CREATE INDEX federation_outbound_edus_created ON federation_outbound_edus (created_ts);
