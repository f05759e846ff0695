-- 0016: the notification evaluator's recorded position, for its recovery after a crash.
-- Forward only: never edit this file once it has shipped; add a new migration instead.

-- The notification evaluator (Homeserver.Push NotificationEvaluator) runs push rules over events after their commit,
-- in memory. It records here the stream position at or below which every event's notifications are stored, in the
-- same transaction as the notifications; at start-up it evaluates the events after it again (a crash loses what was
-- queued). Everything so far counts as evaluated.
CREATE TABLE push_evaluation_position (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    stream_ordering bigint  NOT NULL
);

INSERT INTO push_evaluation_position (stream_ordering) SELECT coalesce(max(stream_ordering), 0) FROM events;
