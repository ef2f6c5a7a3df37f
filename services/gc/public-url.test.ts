import { describe, expect, it } from 'vitest';
import { publicUrlProblem } from './grpc.ts';

describe('Meeting Controller public URLs', () => {
  it.each(['https://mc-1.example:4433', 'wss://mc-1.example/ws', 'https://[2001:db8::1]:4433'])(
    'accepts %s',
    (url) => {
      expect(publicUrlProblem(url, false)).toBeUndefined();
    },
  );

  it.each([
    ['javascript:alert(1)', 'public_url: expected an https or wss URL'],
    ['JAVASCRIPT:alert(1)', 'public_url: expected an https or wss URL'],
    ['data:text/html,x', 'public_url: expected an https or wss URL'],
    ['file:///etc/passwd', 'public_url: expected an https or wss URL'],
    ['ftp://mc.example', 'public_url: expected an https or wss URL'],
    ['http://mc.example', 'public_url: expected an https or wss URL'],
    ['ws://10.0.0.5:4433', 'public_url: expected an https or wss URL'],
    ['https://u:p@mc.example', 'public_url: must not carry credentials'],
    ['mc.example:4433', 'public_url: expected an https or wss URL'],
    ['not a url', 'public_url: expected an absolute URL'],
    [`https://${'a'.repeat(2_100)}.example`, 'public_url: expected an absolute URL'],
  ])('refuses %s', (url, problem) => {
    expect(publicUrlProblem(url, false)).toBe(problem);
    expect(publicUrlProblem(url, true)).toBe(problem);
  });

  it.each([
    'http://127.0.0.1:4433',
    'ws://localhost:4433/ws',
    'http://[::1]:4433',
    'http://127.9.8.7',
  ])('accepts plain %s on loopback only in development', (url) => {
    expect(publicUrlProblem(url, true)).toBeUndefined();
    expect(publicUrlProblem(url, false)).toMatch(/only in development/);
  });

  it.each([
    'http://127.0.0.1.evil.example',
    'http://localhost.evil.example',
    'http://128.0.0.1',
    'http://0.0.0.0:4433',
  ])('does not take %s for loopback', (url) => {
    expect(publicUrlProblem(url, true)).toBe('public_url: expected an https or wss URL');
  });
});
