-- 004: the audit log. One row per write request (core/store_audit.c):
-- a write that changes something adds its row in the change's own
-- transaction; a refused write or one that changes nothing, in its own.
-- Applied by core/store_db.c inside one transaction that also sets user_version.

CREATE TABLE events (
	-- Ascending in time; never reused while the newest row stays (pruning keeps it).
	id INTEGER PRIMARY KEY,
	time TEXT NOT NULL,              -- "2026-11-26T13:22:32.123Z", when recorded
	token_name TEXT NOT NULL,        -- the name of the bearer token the request carried
	client TEXT NOT NULL,            -- the peer's address as the daemon saw it
	method TEXT NOT NULL,
	path TEXT NOT NULL,              -- without the query
	object_id TEXT,                  -- NULL: not about one object
	status INTEGER NOT NULL,         -- the HTTP status the request was answered with
	revision INTEGER,                -- the desired revision the change committed; NULL: none
	-- PUT /v1/config only: its plan's counts over all kinds; NULL otherwise.
	plan_added INTEGER,
	plan_changed INTEGER,
	plan_removed INTEGER,
	plan_unchanged INTEGER
);
CREATE INDEX events_by_object ON events (object_id, id);
CREATE INDEX events_by_token ON events (token_name, id);
