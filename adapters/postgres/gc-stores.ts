import { err, ok, type Result } from '../../core/result.ts';
import type {
  IdempotencyTag,
  MeetingRecord,
  MeetingStatus,
  MeetingStore,
  MeetingStoreError,
  PlacementBacklog,
  TenantConfig,
  TenantStore,
} from '../../ports/gc.ts';
import type { Pool } from './pool.ts';

type MeetingRow = {
  meeting_id: string;
  org_id: string;
  title: string;
  created_by: string;
  max_participants: number;
  status: MeetingStatus;
  created_at: Date;
  ended_at: Date | null;
};

const toMeeting = (row: MeetingRow): MeetingRecord => ({
  meetingId: row.meeting_id,
  orgId: row.org_id,
  title: row.title,
  createdBy: row.created_by,
  maxParticipants: row.max_participants,
  status: row.status,
  createdAtMs: row.created_at.getTime(),
  endedAtMs: row.ended_at?.getTime(),
});

const MEETING_COLUMNS =
  'meeting_id, org_id, title, created_by, max_participants, status, created_at, ended_at';

/** Meetings in `gc.meetings` and tenants in `gc.orgs`. */
export class PgMeetingStore implements MeetingStore, TenantStore, PlacementBacklog {
  constructor(private readonly pool: Pool) {}

  async create(
    meeting: MeetingRecord,
    idempotency?: IdempotencyTag,
  ): Promise<Result<void, MeetingStoreError>> {
    try {
      // A key already used by this creator leaves the earlier meeting as it is (no row).
      const inserted = await this.pool.query(
        `INSERT INTO gc.meetings (${MEETING_COLUMNS}, idempotency_key, request_fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7 / 1000.0), to_timestamp($8 / 1000.0),
                 $9, $10)
         ON CONFLICT (org_id, created_by, idempotency_key) WHERE idempotency_key IS NOT NULL
         DO NOTHING`,
        [
          meeting.meetingId,
          meeting.orgId,
          meeting.title,
          meeting.createdBy,
          meeting.maxParticipants,
          meeting.status,
          meeting.createdAtMs,
          meeting.endedAtMs ?? null,
          idempotency?.key ?? null,
          idempotency?.fingerprint ?? null,
        ],
      );
      if (inserted.rowCount === 0 && idempotency !== undefined) {
        return err(await this.earlierCreate(meeting, idempotency.key));
      }
      return ok(undefined);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '23505') return err({ kind: 'duplicate', meetingId: meeting.meetingId });
      if (code === '23503') return err({ kind: 'unknown_org', orgId: meeting.orgId });
      throw error;
    }
  }

  private async earlierCreate(meeting: MeetingRecord, key: string): Promise<MeetingStoreError> {
    const result = await this.pool.query<MeetingRow & { request_fingerprint: string }>(
      `SELECT ${MEETING_COLUMNS}, request_fingerprint FROM gc.meetings
       WHERE org_id = $1 AND created_by = $2 AND idempotency_key = $3`,
      [meeting.orgId, meeting.createdBy, key],
    );
    const row = result.rows[0];
    if (row === undefined) throw new Error('idempotency key conflict without a meeting');
    return {
      kind: 'idempotency_key_used',
      existing: toMeeting(row),
      fingerprint: row.request_fingerprint,
    };
  }

  async addPendingPlacement(meetingId: string): Promise<void> {
    await this.pool.query('UPDATE gc.meetings SET placement_pending = true WHERE meeting_id = $1', [
      meetingId,
    ]);
  }

  async pendingPlacements(limit: number): Promise<string[]> {
    const result = await this.pool.query<{ meeting_id: string }>(
      `SELECT meeting_id FROM gc.meetings WHERE placement_pending AND status = 'active'
       ORDER BY created_at LIMIT $1`,
      [limit],
    );
    return result.rows.map((row) => row.meeting_id);
  }

  async removePendingPlacement(meetingId: string): Promise<void> {
    await this.pool.query(
      'UPDATE gc.meetings SET placement_pending = false WHERE meeting_id = $1',
      [meetingId],
    );
  }

  async get(meetingId: string): Promise<MeetingRecord | undefined> {
    const result = await this.pool.query<MeetingRow>(
      `SELECT ${MEETING_COLUMNS} FROM gc.meetings WHERE meeting_id = $1`,
      [meetingId],
    );
    const row = result.rows[0];
    return row ? toMeeting(row) : undefined;
  }

  async end(meetingId: string, endedAtMs: number): Promise<MeetingRecord | undefined> {
    await this.pool.query(
      `UPDATE gc.meetings SET status = 'ended', ended_at = to_timestamp($2 / 1000.0)
       WHERE meeting_id = $1 AND status = 'active'`,
      [meetingId, endedAtMs],
    );
    return this.get(meetingId);
  }

  async getTenant(orgId: string): Promise<TenantConfig | undefined> {
    const result = await this.pool.query<{
      org_id: string;
      display_name: string;
      max_participants: number;
    }>('SELECT org_id, display_name, max_participants FROM gc.orgs WHERE org_id = $1', [orgId]);
    const row = result.rows[0];
    return row
      ? { orgId: row.org_id, displayName: row.display_name, maxParticipants: row.max_participants }
      : undefined;
  }
}
