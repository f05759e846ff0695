-- 0008: the signed key documents of other servers, kept per key so that we can act as a notary (server-server API
-- "Querying keys through another server").
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- The latest verified key document (as the server signed it) that held each key, under every key ID it lists in
-- verify_keys or old_verify_keys. Kept per key, as Synapse's server_keys_json: a later document that no longer
-- lists a key (a server that forgot it, or a spurious answer) does not make us forget the document that proved it.
-- valid_until_ts: the document's own; a document never replaces one valid for longer.
CREATE TABLE server_key_json (
    server_name     text   NOT NULL,
    key_id          text   NOT NULL,
    json            text   NOT NULL,
    valid_until_ts  bigint NOT NULL,
    fetched_ts      bigint NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- One document per server could not hold that; the notary reads server_key_json instead.
DROP TABLE server_key_documents;
