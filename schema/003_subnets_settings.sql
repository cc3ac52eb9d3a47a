-- 003: subnets and the namespace-wide settings.
-- Applied by core/store_db.c inside one transaction that also sets user_version.

CREATE TABLE subnets (
	id TEXT PRIMARY KEY NOT NULL,
	name TEXT NOT NULL UNIQUE CHECK (name <> ''),
	cidr TEXT NOT NULL,       -- as written by the client
	cidr_key TEXT NOT NULL,   -- canonical prefix ("192.168.100.0/24")
	family INTEGER NOT NULL CHECK (family IN (4, 6)),
	-- The link need not exist yet: the subnet stays desired until it appears.
	interface TEXT NOT NULL CHECK (interface <> ''),
	router_ip TEXT NOT NULL,  -- as written; inside cidr
	-- No ON DELETE CASCADE: deleting a table that a subnet still uses is refused.
	route_table_id TEXT NOT NULL REFERENCES route_tables (id),
	description TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL
);
-- Overlapping subnets are refused by core/store_subnet.c (a prefix overlap is not
-- something a UNIQUE index can express); equal ones are caught here too.
CREATE UNIQUE INDEX subnets_key ON subnets (cidr_key);

-- Listing by table or interface in id order, and the foreign key check when a
-- table is deleted.
CREATE INDEX subnets_by_table ON subnets (route_table_id, id);
CREATE INDEX subnets_by_interface ON subnets (interface, id);
-- The overlap check reads every subnet of one family.
CREATE INDEX subnets_by_family ON subnets (family, id);

-- Exactly one row. managed stays 0 until the first PUT /v1/settings: until
-- then vrouter leaves the kernel's forwarding sysctls as they are, so
-- starting it on a host changes nothing there.
CREATE TABLE settings (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	managed INTEGER NOT NULL CHECK (managed IN (0, 1)),
	forward_v4 INTEGER NOT NULL CHECK (forward_v4 IN (0, 1)),
	forward_v6 INTEGER NOT NULL CHECK (forward_v6 IN (0, 1)),
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL
);

-- Not a write of desired state: the revision stays, and the row's ETag is the
-- revision the database already had (>= 1, never confused with "no If-Match").
INSERT INTO settings (id, managed, forward_v4, forward_v6, updated_at, rev)
VALUES (1, 0, 0, 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
	(SELECT value FROM meta WHERE key = 'revision'));
