-- 0019: PostgreSQL's JIT compiler off for the server's database.
-- Forward only: never edit this file once it has shipped; add a new migration instead.
--
-- PostgreSQL compiles a query to machine code when its estimated cost passes jit_above_cost (100,000 by default). The
-- server's queries each read a handful of rows through an index, and compiling one takes 100-300 ms, far longer than
-- running it. A cost estimate passes that line when the planner misjudges a table: statistics that lag behind a room
-- that grew fast, or a sort the planner was told to avoid (StoredEventQueries.NoSort), which was measured at 300 ms of
-- compilation for a query that runs in 0.8 ms (ROOMS.md, eighteenth session). Operators of transactional databases
-- commonly switch it off for the same reason.
--
-- Set on the database, so every new session of any role gets it (a connection-string option would be refused by
-- connection poolers such as PgBouncer). Only when the server's role may (it owns the database, or is a superuser) and
-- the operator has not set jit for the database themselves.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_database d
               WHERE d.datname = current_database()
                 AND (pg_has_role(current_user, d.datdba, 'MEMBER') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)))
       AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                       WHERE d.datname = current_database() AND s.setrole = 0
                         AND EXISTS (SELECT 1 FROM unnest(s.setconfig) AS c WHERE c LIKE 'jit=%'))
    THEN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    END IF;
END
$$;
