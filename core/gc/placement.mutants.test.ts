import { describe, expect, it } from 'vitest';
import { controllerId } from '../ids.ts';
import { registryFrom, type ControllerRecord } from './placement.ts';

const NOW = 100_000;

function record(
  lastHeartbeatMs: number,
  overrides: Partial<ControllerRecord> = {},
): ControllerRecord {
  return {
    id: 'mc-a',
    region: 'us-west-1',
    endpoint: 'https://mc-a.example',
    meetingCount: 0,
    healthy: true,
    lastHeartbeatMs,
    ...overrides,
  };
}

describe('registryFrom with two records of one controller', () => {
  it('takes the latest record, whatever order they come in', () => {
    const older = record(NOW - 5_000, { meetingCount: 3, healthy: false });
    const newer = record(NOW - 1_000, { meetingCount: 9, endpoint: 'https://mc-a2.example' });
    for (const records of [
      [older, newer],
      [newer, older],
    ]) {
      const registry = registryFrom(records, NOW);
      expect(registry.controllers.get(controllerId('mc-a'))).toMatchObject({
        healthy: true,
        meetingCount: 9,
        endpoint: 'https://mc-a2.example',
        lastHeartbeatMs: NOW - 1_000,
      });
    }
  });
});
