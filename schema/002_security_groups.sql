-- 002: security groups, their targets and their rules.
-- Applied by core/store_db.c inside one transaction that also sets user_version.

CREATE TABLE security_groups (
	id TEXT PRIMARY KEY NOT NULL,
	name TEXT NOT NULL UNIQUE CHECK (name <> ''),
	description TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL
);

-- A group's targets in the order the client gave them. They belong to the
-- group: a replace rewrites them all, a delete takes them along.
CREATE TABLE sg_targets (
	group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
	position INTEGER NOT NULL CHECK (position >= 0),
	target TEXT NOT NULL CHECK (target <> ''),  -- as written ("10.0.0.1", "local", ...)
	target_key TEXT NOT NULL,                   -- canonical ("10.0.0.1/32", "local")
	PRIMARY KEY (group_id, position),
	-- The same host written twice ("10.0.0.1" and "10.0.0.1/32") is one target.
	UNIQUE (group_id, target_key)
) WITHOUT ROWID;

CREATE TABLE security_group_rules (
	id TEXT PRIMARY KEY NOT NULL,
	-- A group's own rules go with it: deleting the group deletes them.
	security_group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
	direction TEXT NOT NULL CHECK (direction IN ('ingress', 'egress')),
	protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'icmpv6', 'all')),
	-- NULL = not given: all ports. Given only together, only for tcp and udp.
	port_from INTEGER CHECK (port_from BETWEEN 1 AND 65535),
	port_to INTEGER CHECK (port_to BETWEEN port_from AND 65535),
	cidr TEXT,      -- as written; NULL when the peer is a group
	cidr_key TEXT,  -- canonical prefix, for uniqueness
	-- No cascade: a group that another group's rule names as its peer cannot be
	-- deleted (409) until that rule goes. A rule naming its own group does not
	-- hold it: both references go in the same cascade.
	remote_security_group_id TEXT REFERENCES security_groups (id),
	description TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	rev INTEGER NOT NULL,
	CHECK ((port_from IS NULL) = (port_to IS NULL)),
	CHECK (port_from IS NULL OR protocol IN ('tcp', 'udp')),
	CHECK ((cidr IS NULL) = (cidr_key IS NULL)),
	CHECK ((cidr IS NULL) <> (remote_security_group_id IS NULL))
);

-- Two rules of one group allowing the same thing are one rule twice: refused
-- (409). Ports compare as written (absent is not 1-65535); the peer compares
-- canonically. NULLs are distinct in a UNIQUE index, hence the IFNULLs.
CREATE UNIQUE INDEX security_group_rules_key ON security_group_rules (
	security_group_id, direction, protocol, IFNULL(port_from, 0), IFNULL(port_to, 0),
	IFNULL(cidr_key, remote_security_group_id));

-- Listing one group's rules in id order, and the foreign key checks when a
-- group is deleted (its own rules, and rules naming it as remote).
CREATE INDEX security_group_rules_by_group ON security_group_rules (security_group_id, id);
CREATE INDEX security_group_rules_by_remote ON security_group_rules (remote_security_group_id);
