-- Idempotent meeting creation: the Idempotency-Key a create was sent with and a digest of its
-- request, unique per organisation and creator, kept with the meeting. And meetings whose
-- placement on a Meeting Controller failed (Redis down, no controller), placed again when a
-- controller registers.
ALTER TABLE gc.meetings
  ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  ADD COLUMN request_fingerprint text,
  ADD COLUMN placement_pending boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX meetings_idempotency ON gc.meetings (org_id, created_by, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE INDEX meetings_placement_pending ON gc.meetings (created_at)
  WHERE placement_pending AND status = 'active';
