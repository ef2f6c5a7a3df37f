-- Auth Controller schema: credentials, registered services, signing keys, audit log.
CREATE SCHEMA IF NOT EXISTS ac;

CREATE TABLE ac.users (
  user_id uuid PRIMARY KEY,
  username text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 128),
  -- bcrypt hash, cost 12 or more.
  password_hash text NOT NULL,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ac.services (
  client_id text PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  -- SHA-256 of a random 256-bit client secret (see docs/services.md for why not bcrypt).
  secret_hash bytea NOT NULL,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ac.signing_keys (
  kid text PRIMARY KEY,
  -- Public key as a JWK (kty OKP, crv Ed25519).
  public_jwk jsonb NOT NULL,
  -- PKCS#8 private key sealed with AES-256-GCM: 12-byte IV, ciphertext, 16-byte tag.
  private_key_sealed bytea NOT NULL,
  master_key_version integer NOT NULL,
  -- Milliseconds since the Unix epoch, as the key ring counts time.
  created_at_ms bigint NOT NULL,
  active_from_ms bigint NOT NULL,
  expires_at_ms bigint NOT NULL
);

CREATE TABLE ac.audit_log (
  event_id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  event_type text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
  -- Who the event is about: a user id, a client id, or a username attempt. Never a secret.
  subject text,
  reason text,
  source_ip text
);

CREATE INDEX audit_log_occurred_at ON ac.audit_log (occurred_at);
