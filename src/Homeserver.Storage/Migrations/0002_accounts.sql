-- 0002: accounts, sessions and devices: refresh-token rotation, login and OpenID tokens, registration tokens,
-- filters and third-party identifiers.
-- Forward only: never edit this file once it has shipped; add 0003_... instead.

-- A session made by /refresh remembers the session it replaced until its access token is first used; then the
-- old session (and so the old refresh token) is deleted. NULL for every other session.
ALTER TABLE access_tokens ADD COLUMN refreshed_from bytea;
CREATE INDEX access_tokens_refreshed_from ON access_tokens (refreshed_from) WHERE refreshed_from IS NOT NULL;

-- Single-use m.login.token tokens (POST /login/get_token), stored as SHA-256 hashes.
CREATE TABLE login_tokens (
    token_hash      bytea  PRIMARY KEY,
    user_id         text   NOT NULL REFERENCES users (user_id),
    expires_ts      bigint NOT NULL
);
CREATE INDEX login_tokens_user ON login_tokens (user_id);

-- OpenID tokens handed to third parties (POST /user/{userId}/openid/request_token), stored as SHA-256 hashes.
CREATE TABLE openid_tokens (
    token_hash      bytea  PRIMARY KEY,
    user_id         text   NOT NULL REFERENCES users (user_id),
    expires_ts      bigint NOT NULL
);
CREATE INDEX openid_tokens_user ON openid_tokens (user_id);

-- Registration tokens made by admins. uses_allowed NULL: unlimited; expiry_time NULL: never expires.
-- completed: registrations that used the token.
CREATE TABLE registration_tokens (
    token           text    PRIMARY KEY,
    uses_allowed    integer,
    expiry_time     bigint,
    completed       integer NOT NULL DEFAULT 0
);

-- UIA sessions that passed the m.login.registration_token stage and have not registered yet ("pending" uses).
-- A row older than the UIA session lifetime no longer counts; the row goes when its registration completes.
CREATE TABLE registration_token_pending (
    session_id      text   PRIMARY KEY,
    token           text   NOT NULL REFERENCES registration_tokens (token) ON DELETE CASCADE,
    created_ts      bigint NOT NULL
);
CREATE INDEX registration_token_pending_token ON registration_token_pending (token, created_ts);

-- Filters uploaded by clients, as canonical JSON; filter_id counts from 0 per user, as in Synapse.
CREATE TABLE user_filters (
    user_id         text   NOT NULL,
    filter_id       bigint NOT NULL,
    filter_json     text   NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);
CREATE INDEX user_filters_json ON user_filters (user_id, md5(filter_json));

-- Third-party identifiers (email addresses are stored lower-cased) bound to local accounts.
CREATE TABLE user_threepids (
    user_id         text   NOT NULL REFERENCES users (user_id),
    medium          text   NOT NULL,
    address         text   NOT NULL,
    validated_at    bigint NOT NULL,
    added_at        bigint NOT NULL,
    PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);

-- User directory search text: the words of the user ID and display name, lower-cased, each preceded by a space
-- (" alice example org alice liddell"), so that "a word starts with the term" is LIKE '% term%' whatever the
-- collation. Maintained by the account repository whenever the display name changes.
ALTER TABLE users ADD COLUMN directory_search text NOT NULL DEFAULT '';
UPDATE users SET directory_search = ' ' || trim(regexp_replace(lower(user_id || ' ' || coalesce(displayname, '')), '[^a-z0-9]+', ' ', 'g'));
