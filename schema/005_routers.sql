-- 005: route tables (and through them routes and subnets) and the settings
-- belong to one router of a fleet (issue 16). A database from before holds
-- one router's state: its rows become router 'local', which is also the
-- router a single vrouterd serves, so nothing changes for it.
-- Applied by core/store_db.c inside one transaction that also sets user_version,
-- with foreign keys off while the tables are rebuilt (SQLite's own procedure
-- for a change ALTER TABLE cannot make) and checked before the commit.

-- Names and numbers were unique in the one namespace; now per router. A
-- column UNIQUE cannot be dropped, so the table is rebuilt.
CREATE TABLE route_tables_005 (
	id TEXT PRIMARY KEY NOT NULL,
	-- The router the table belongs to ([a-z0-9][a-z0-9-]{0,31}, model.h).
	router TEXT NOT NULL DEFAULT 'local' CHECK (router <> ''),
	name TEXT NOT NULL CHECK (name <> ''),
	-- Kernel table number. 0, 253 (default) and 255 (local) are the kernel's own.
	table_no INTEGER NOT NULL
		CHECK (table_no BETWEEN 1 AND 4294967295 AND table_no NOT IN (253, 255)),
	description TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL,
	UNIQUE (router, name),
	UNIQUE (router, table_no)
);
INSERT INTO route_tables_005 (id, router, name, table_no, description, created_at,
	updated_at, rev)
SELECT id, 'local', name, table_no, description, created_at, updated_at, rev
FROM route_tables;
DROP TABLE route_tables;
ALTER TABLE route_tables_005 RENAME TO route_tables;
-- A router's tables in id order (lists and loads filtered by router).
CREATE INDEX route_tables_by_router ON route_tables (router, id);

-- A subnet's router is its table's: its name must be unique and its cidr
-- may not overlap another's only within one router (both checked by
-- core/store_subnet.c), so "lan" 10.0.0.0/24 can be on two routers. The
-- column UNIQUE on name goes with a rebuild; its indexes come back.
CREATE TABLE subnets_005 (
	id TEXT PRIMARY KEY NOT NULL,
	name TEXT NOT NULL CHECK (name <> ''),
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
INSERT INTO subnets_005 SELECT id, name, cidr, cidr_key, family, interface, router_ip,
	route_table_id, description, created_at, updated_at, rev FROM subnets;
DROP TABLE subnets;
ALTER TABLE subnets_005 RENAME TO subnets;
CREATE INDEX subnets_by_table ON subnets (route_table_id, id);
CREATE INDEX subnets_by_interface ON subnets (interface, id);
CREATE INDEX subnets_by_family ON subnets (family, id);
CREATE INDEX subnets_by_name ON subnets (name);

-- One settings row per router; a router without one has the defaults
-- (unmanaged), and gets its row with its main table (store_router_ensure).
CREATE TABLE settings_005 (
	router TEXT PRIMARY KEY NOT NULL CHECK (router <> ''),
	managed INTEGER NOT NULL CHECK (managed IN (0, 1)),
	forward_v4 INTEGER NOT NULL CHECK (forward_v4 IN (0, 1)),
	forward_v6 INTEGER NOT NULL CHECK (forward_v6 IN (0, 1)),
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO settings_005 (router, managed, forward_v4, forward_v6, updated_at, rev)
SELECT 'local', managed, forward_v4, forward_v6, updated_at, rev FROM settings;
DROP TABLE settings;
ALTER TABLE settings_005 RENAME TO settings;
