// k6: AC token issuance and GC's meeting API over HTTP. Two scenarios at arrival rates that
// ramp up and hold (stages): users logging in at AC, and meetings created and read at GC with
// one token from setup().
//
//   npm run load:k6 -- http-ac-gc -e AC_URL=http://127.0.0.1:8082 -e GC_URL=http://127.0.0.1:8080
//
// Environment: USERNAME / PASSWORD (demo / demo-password), TOKENS_PER_SECOND (20; AC limits
// logins per user and address, so refusals (429) are counted apart from errors),
// MEETINGS_PER_SECOND (50), RAMP (10s), HOLD (30s).
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { handleSummaryFor, type SummaryData } from './lib/summary.ts';
import { TARGETS } from './lib/targets.ts';

const AC_URL = __ENV.AC_URL ?? 'http://127.0.0.1:8082';
const GC_URL = __ENV.GC_URL ?? 'http://127.0.0.1:8080';
const credentials = JSON.stringify({
  username: __ENV.USERNAME ?? 'demo',
  password: __ENV.PASSWORD ?? 'demo-password',
});
const json = { 'content-type': 'application/json' };

const tokenTime = new Trend('ac_token_ms', true);
const meetingTime = new Trend('gc_meeting_ms', true);
const rateLimited = new Counter('ac_rate_limited');

const stages = (rate: number) => [
  { target: rate, duration: __ENV.RAMP ?? '10s' },
  { target: rate, duration: __ENV.HOLD ?? '30s' },
];

export const options = {
  scenarios: {
    tokens: {
      executor: 'ramping-arrival-rate',
      exec: 'token',
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: 20,
      maxVUs: 100,
      stages: stages(Number(__ENV.TOKENS_PER_SECOND ?? 20)),
    },
    meetings: {
      executor: 'ramping-arrival-rate',
      exec: 'meeting',
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: 20,
      maxVUs: 100,
      stages: stages(Number(__ENV.MEETINGS_PER_SECOND ?? 50)),
    },
  },
  thresholds: {
    ac_token_ms: [`p(99)<${TARGETS.tokenIssueP99Ms}`],
    gc_meeting_ms: [`p(99)<${TARGETS.meetingApiP99Ms}`],
    http_req_failed: [`rate<${TARGETS.errorRate}`],
    checks: [`rate>${1 - TARGETS.errorRate}`],
  },
};

export function setup(): { token: string } {
  const response = http.post(`${AC_URL}/v1/auth/user/token`, credentials, { headers: json });
  if (response.status !== 200) throw new Error(`login: ${response.status}`);
  return { token: response.json('access_token') as string };
}

export function token(): void {
  const response = http.post(`${AC_URL}/v1/auth/user/token`, credentials, {
    headers: json,
    // A 429 is AC's rate limit doing its job: not a failed request.
    responseCallback: http.expectedStatuses(200, 429),
  });
  if (response.status === 429) {
    rateLimited.add(1);
    return;
  }
  tokenTime.add(response.timings.duration);
  check(response, {
    'token issued': (r) => r.status === 200 && r.json('access_token') !== undefined,
  });
}

export function meeting(data: { token: string }): void {
  const headers = { ...json, authorization: `Bearer ${data.token}` };
  const created = http.post(`${GC_URL}/v1/meetings`, JSON.stringify({ title: 'k6' }), { headers });
  meetingTime.add(created.timings.duration, { op: 'create' });
  if (!check(created, { 'meeting created': (r) => r.status === 201 || r.status === 200 })) return;
  const id = created.json('meeting_id') as string;
  const read = http.get(`${GC_URL}/v1/meetings/${id}`, { headers });
  meetingTime.add(read.timings.duration, { op: 'get' });
  check(read, { 'meeting read': (r) => r.status === 200 });
}

export function handleSummary(data: SummaryData): Record<string, string> {
  return handleSummaryFor('http-ac-gc', data);
}
