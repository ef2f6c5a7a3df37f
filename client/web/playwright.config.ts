// The browser join suite: Debian's Chromium (never a downloaded browser), services started by
// the global setup, screenshots and traces kept for failed tests under reports/playwright/.
import { defineConfig } from '@playwright/test';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Three pages render and encode at once: keep background ones at full speed.
  '--disable-renderer-backgrounding',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
];

export default defineConfig({
  testDir: './e2e',
  testMatch: '*.spec.ts',
  outputDir: '../../reports/playwright',
  globalSetup: './e2e/global-setup.ts',
  fullyParallel: false,
  workers: 1,
  // No retries: a failure keeps each page's state (JSON snapshot with its MLS view), screenshots
  // and the trace under reports/playwright/.
  retries: 0,
  // Three to four pages encode and decode beside every service on one shared 2-core machine.
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    headless: true,
    viewport: { width: 1366, height: 768 },
    screenshot: 'only-on-failure',
    // Traces keep actions, DOM snapshots and sources. Their screencast is off: it encoded every
    // page's frames all along (about a third of the machine with three pages decoding video) and
    // doubled the join times the suite measures. A failure's screenshots come from `screenshot`
    // and from each page in afterEach.
    trace: { mode: 'retain-on-failure', screenshots: false, snapshots: true, sources: true },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
    },
  },
});
