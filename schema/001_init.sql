-- 001: the desired-state revision, route tables and routes.
-- Applied by core/store_db.c inside one transaction that also sets user_version.

-- Small named counters. 'revision' is the desired-state revision: every
-- committed write bumps it and stamps the written object's rev with it.
CREATE TABLE meta (
	key TEXT PRIMARY KEY NOT NULL,
	value INTEGER NOT NULL
) WITHOUT ROWID;

-- Creating the built-in main table is the first write, so every ETag is >= 1
-- and an If-Match can never be confused with "no If-Match" (0).
INSERT INTO meta (key, value) VALUES ('revision', 1);

CREATE TABLE route_tables (
	id TEXT PRIMARY KEY NOT NULL,
	name TEXT NOT NULL UNIQUE CHECK (name <> ''),
	-- Kernel table number. 0, 253 (default) and 255 (local) are the kernel's own.
	table_no INTEGER NOT NULL UNIQUE
		CHECK (table_no BETWEEN 1 AND 4294967295 AND table_no NOT IN (253, 255)),
	description TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL
);

INSERT INTO route_tables (id, name, table_no, description, created_at, updated_at, rev)
VALUES ('rtb-main', 'main', 254, '', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
	strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 1);

CREATE TABLE routes (
	id TEXT PRIMARY KEY NOT NULL,
	-- No ON DELETE CASCADE: deleting a table that routes still use is refused.
	route_table_id TEXT NOT NULL REFERENCES route_tables (id),
	destination TEXT NOT NULL,  -- as written by the client ("default", ...)
	dst_key TEXT NOT NULL,      -- canonical prefix ("0.0.0.0/0"), for uniqueness
	family INTEGER NOT NULL CHECK (family IN (4, 6)),
	type TEXT NOT NULL CHECK (type IN ('unicast', 'blackhole', 'unreachable', 'prohibit')),
	via TEXT,                   -- as written; NULL = none
	dev TEXT,                   -- NULL = none
	metric INTEGER NOT NULL CHECK (metric BETWEEN 0 AND 4294967295),
	-- The kernel stores an IPv6 route's metric 0 as 1024, so for IPv6 those
	-- two are the same kernel route and must conflict here too.
	metric_key INTEGER NOT NULL GENERATED ALWAYS AS
		(CASE WHEN family = 6 AND metric = 0 THEN 1024 ELSE metric END) VIRTUAL,
	description TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL,
	-- The kernel's own key for a route: table, destination, priority.
	UNIQUE (route_table_id, dst_key, metric_key)
);

-- Listing one table's routes in id order, and the foreign key check when a
-- table is deleted.
CREATE INDEX routes_by_table ON routes (route_table_id, id);
