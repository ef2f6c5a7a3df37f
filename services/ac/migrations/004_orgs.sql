-- Every user and every service belongs to one organisation (tenant); AC puts it in the
-- `org` claim of their tokens. Existing accounts join the default organisation.
ALTER TABLE ac.users ADD COLUMN org_id text NOT NULL DEFAULT 'default'
  CHECK (org_id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
ALTER TABLE ac.users ALTER COLUMN org_id DROP DEFAULT;

ALTER TABLE ac.services ADD COLUMN org_id text NOT NULL DEFAULT 'default'
  CHECK (org_id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
ALTER TABLE ac.services ALTER COLUMN org_id DROP DEFAULT;

CREATE INDEX users_org ON ac.users (org_id);
CREATE INDEX services_org ON ac.services (org_id);
