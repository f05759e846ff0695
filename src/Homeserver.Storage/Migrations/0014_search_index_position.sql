-- 0014: search rows of local events written after the event, by the search indexer.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- The search rows of the events this server's room writers create are written after the event, by the search indexer
-- (Homeserver.Rooms SearchIndexer), instead of in the writer's statement. It records here the stream position at or
-- below which every such row is written, in the same transaction as the rows; after a crash it writes the rows of the
-- events after this position that lack one. Every row so far was written with its event.
CREATE TABLE search_index_position (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    stream_ordering bigint  NOT NULL
);

INSERT INTO search_index_position (stream_ordering) SELECT coalesce(max(stream_ordering), 0) FROM events;
