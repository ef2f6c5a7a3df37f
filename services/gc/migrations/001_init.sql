-- Global Controller schema: organisations (tenants) and meeting metadata.
CREATE SCHEMA IF NOT EXISTS gc;

CREATE TABLE gc.orgs (
  org_id text PRIMARY KEY CHECK (length(org_id) BETWEEN 1 AND 64),
  display_name text NOT NULL,
  max_participants integer NOT NULL CHECK (max_participants > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gc.meetings (
  meeting_id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES gc.orgs (org_id),
  title text NOT NULL,
  created_by text NOT NULL,
  max_participants integer NOT NULL CHECK (max_participants > 0),
  status text NOT NULL CHECK (status IN ('active', 'ended')),
  created_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz
);

CREATE INDEX meetings_org ON gc.meetings (org_id);

-- The tenant requests fall back to when they arrive without a tenant subdomain.
INSERT INTO gc.orgs (org_id, display_name, max_participants)
VALUES ('default', 'Default organisation', 100);
