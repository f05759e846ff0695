-- 0012: positions for events backfilled from other servers.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- History fetched from another server (GET /backfill, when /messages reaches the start of what we hold of a room) is
-- older than everything in our timeline, and sync must never hand it out as news. Such events take their
-- stream_ordering from this sequence, negated: -1, -2, ... (as Synapse's backfill stream), so each one sorts before
-- every event of the live stream and later backfills sort before earlier ones. /messages orders by
-- (topological_ordering = depth, stream_ordering), which places them by depth.
CREATE SEQUENCE backfill_stream_ordering;
