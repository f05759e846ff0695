-- 0004: end-to-end encryption: device keys, one-time and fallback keys, cross-signing keys and signatures,
-- device list changes, send-to-device messages, server-side key backup and dehydrated devices.
-- Forward only: never edit this file once it has shipped; add a new migration instead.
-- The server never sees plaintext: every JSON column below holds public keys, signatures or ciphertext.

-- The identity keys of a device (POST /keys/upload "device_keys"), as uploaded (canonical JSON, self-signed).
-- A device's keys go with the device.
CREATE TABLE e2e_device_keys (
    user_id         text   NOT NULL,
    device_id       text   NOT NULL,
    key_json        text   NOT NULL,
    updated_ts      bigint NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Unclaimed one-time keys. upload_seq orders claims by upload ("given out in the order that they were
-- uploaded"); a claimed key is deleted in the claiming transaction, so it is handed out exactly once.
CREATE TABLE e2e_one_time_keys (
    user_id         text   NOT NULL,
    device_id       text   NOT NULL,
    algorithm       text   NOT NULL,
    key_id          text   NOT NULL,
    key_json        text   NOT NULL,
    upload_seq      bigserial,
    PRIMARY KEY (user_id, device_id, algorithm, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
CREATE INDEX e2e_one_time_keys_claim ON e2e_one_time_keys (user_id, device_id, algorithm, upload_seq);

-- At most one fallback key per device and algorithm; "used" once it has been handed out by /keys/claim.
CREATE TABLE e2e_fallback_keys (
    user_id         text    NOT NULL,
    device_id       text    NOT NULL,
    algorithm       text    NOT NULL,
    key_id          text    NOT NULL,
    key_json        text    NOT NULL,
    used            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, device_id, algorithm),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- The current cross-signing keys of a user (local or remote): key_type is master, self_signing or
-- user_signing; public_key is the unpadded Base64 ed25519 key (what signatures call "ed25519:<public_key>").
CREATE TABLE e2e_cross_signing_keys (
    user_id         text   NOT NULL,
    key_type        text   NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
    public_key      text   NOT NULL,
    key_json        text   NOT NULL,
    stream_id       bigint NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded with POST /keys/signatures/upload, merged into /keys/query answers:
--   a self-signing key's signature of its owner's device (target_key_id = device ID),
--   a device's signature of its owner's master key, a user-signing key's signature of another user's
--   master key (target_key_id = the master public key).
-- Who may see which signature is decided when reading (a user-signing key's signatures only by its owner).
CREATE TABLE e2e_cross_signing_signatures (
    signer_user_id  text   NOT NULL,
    signing_key_id  text   NOT NULL,
    target_user_id  text   NOT NULL,
    target_key_id   text   NOT NULL,
    signature       text   NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signing_key_id)
);
CREATE INDEX e2e_cross_signing_signatures_signer ON e2e_cross_signing_signatures (signer_user_id, signing_key_id);

-- Device list changes, one row per change at a position of the global stream: user_id's devices or
-- cross-signing keys changed. notify_user_id NULL: everyone who shares a room with user_id (and user_id)
-- is told through /sync device_lists.changed and /keys/changes; otherwise only notify_user_id is (a
-- user-signing key's new signature of user_id's master key concerns only its signer).
CREATE TABLE e2e_device_list_changes (
    stream_id       bigint NOT NULL,
    user_id         text   NOT NULL,
    notify_user_id  text,
    created_ts      bigint NOT NULL
);
CREATE INDEX e2e_device_list_changes_stream ON e2e_device_list_changes (stream_id);
CREATE INDEX e2e_device_list_changes_user ON e2e_device_list_changes (user_id, stream_id);

-- Every /sync looks for membership rows of the user's rooms that changed since its token (who joined or left,
-- for device_lists); without this it would read every member row of every room the user is in.
CREATE INDEX room_memberships_room_stream ON room_memberships (room_nid, stream_ordering);

-- Send-to-device messages waiting for a local device. One request takes one stream position and sends at
-- most one message per device, so (user, device, stream_id) is unique.
CREATE TABLE e2e_to_device_inbox (
    user_id         text   NOT NULL,
    device_id       text   NOT NULL,
    stream_id       bigint NOT NULL,
    sender          text   NOT NULL,
    event_type      text   NOT NULL,
    content         text   NOT NULL,
    PRIMARY KEY (user_id, device_id, stream_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- What one /sync answer (identified by its next_batch position) delivered to a device: the messages are
-- deleted when a later /sync presents that position as "since" (acknowledgement).
CREATE TABLE e2e_to_device_deliveries (
    user_id         text     NOT NULL,
    device_id       text     NOT NULL,
    batch_position  bigint   NOT NULL,
    stream_ids      bigint[] NOT NULL,
    PRIMARY KEY (user_id, device_id, batch_position),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);

-- Transaction IDs of PUT /sendToDevice, so that a retried request is not delivered twice.
CREATE TABLE e2e_to_device_txns (
    user_id         text   NOT NULL,
    device_id       text   NOT NULL,
    txn_id          text   NOT NULL,
    created_ts      bigint NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Server-side key backup versions. version counts from 1 per user and is never reused; the current
-- version is the highest one not deleted. etag changes whenever the stored keys change.
CREATE TABLE e2e_room_keys_versions (
    user_id         text    NOT NULL,
    version         bigint  NOT NULL,
    algorithm       text    NOT NULL,
    auth_data       text    NOT NULL,
    etag            bigint  NOT NULL DEFAULT 0,
    deleted         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, version)
);

-- Backed-up room keys (encrypted by the client: session_data is opaque to us).
CREATE TABLE e2e_room_keys (
    user_id             text    NOT NULL,
    version             bigint  NOT NULL,
    room_id             text    NOT NULL,
    session_id          text    NOT NULL,
    first_message_index bigint  NOT NULL,
    forwarded_count     bigint  NOT NULL,
    is_verified         boolean NOT NULL,
    session_data        text    NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id),
    FOREIGN KEY (user_id, version) REFERENCES e2e_room_keys_versions (user_id, version) ON DELETE CASCADE
);

-- A user's dehydrated device (MSC3814): a real row in devices (without access tokens), whose encrypted
-- state (device_data) a new login downloads to pick up the to-device messages sent to it meanwhile.
CREATE TABLE e2e_dehydrated_devices (
    user_id         text   PRIMARY KEY,
    device_id       text   NOT NULL,
    device_data     text   NOT NULL,
    created_ts      bigint NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
);
