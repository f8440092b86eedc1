-- The shared lease table. The address is the primary key: one row, one holder.
-- `server` names the bootherd that wrote the row last; `seq` orders writes so
-- that a server can read what others changed since it last looked.
CREATE SEQUENCE IF NOT EXISTS lease_seq;
CREATE TABLE IF NOT EXISTS leases (
    ip TEXT PRIMARY KEY NOT NULL,
    mac BYTEA NOT NULL,
    client_id BYTEA,
    hostname TEXT,
    state TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined')),
    starts BIGINT NOT NULL,
    ends BIGINT NOT NULL,
    server TEXT NOT NULL,
    seq BIGINT NOT NULL DEFAULT nextval('lease_seq')
);
CREATE INDEX IF NOT EXISTS leases_seq ON leases (seq);
CREATE INDEX IF NOT EXISTS leases_mac ON leases (mac);
