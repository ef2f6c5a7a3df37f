// Three browsers (three isolated browser contexts of Debian's Chromium) join one meeting with
// the web client against real AC, GC, MC and MH services (global-setup.ts). Each test reads
// what the pages decoded: the frame counter and publisher code that every synthetic frame
// carries as pixels (client/web/src/tag.ts), read back from the decoded picture.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { summary, type JoinSample } from './join-report.ts';

interface StackInfo {
  readonly webUrl: string;
  readonly users: readonly { username: string; password: string }[];
}

interface Snapshot {
  state: string;
  error: string | null;
  participantId: string | null;
  meetingId: string | null;
  handler: string | null;
  transport: { signaling: string | null; media: string | null; failures: string[] };
  ownCode: number | null;
  ownScreenCode: number | null;
  mlsEpoch: number | null;
  endToEnd: boolean;
  retainedEpochs: number[];
  members: string[];
  sharing: string[];
  layout: { name: string; tiles: { participant: string; reason: string; main: boolean }[] } | null;
  remotes: Record<string, Decoded>;
  screens: Record<string, Decoded>;
  joins: JoinSample[];
  reconnects: number;
  audioSupported: boolean;
  ownToneHz: number | null;
  sentAudioFrames: number;
  audio: Record<string, HeardAudio>;
}

/** What a page decoded of one remote's audio (client/web/src/audio.ts). */
interface HeardAudio {
  decodedFrames: number;
  toneHz: number | null;
  firstTimestampUs: number | null;
  lastTimestampUs: number | null;
}

interface Decoded {
  decodedFrames: number;
  counter: number | null;
  code: number | null;
}

/** A sealed (SFrame) frame as the page hands it out: base64 bytes and its metadata. */
interface WireFrame {
  bytes: string;
  streamId: string;
  publisherId: string;
  epoch: number;
}

type Retained = { ok: true; text: string; epoch: number } | { ok: false; kind: string };

const REPORTS = fileURLToPath(new URL('../../../reports/', import.meta.url));
const stack = (): StackInfo => JSON.parse(process.env.DARK_TOWER_WEB_STACK ?? '{}') as StackInfo;

interface Participant {
  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  id: string;
  code: number;
}

const snapshot = (page: Page) =>
  page.evaluate(() =>
    (globalThis as unknown as PageHook).__darkTower.snapshot(),
  ) as Promise<Snapshot>;

/** What the page exposes to tests (client/web/src/main.ts). */
interface PageHook {
  readonly __darkTower: {
    snapshot(): unknown;
    dropConnections(): void;
    dropMedia(): void;
    retainKeysOnLeave(): void;
    sealedFrame(participant: string): WireFrame | null;
    sealProbe(text: string): Promise<WireFrame | null>;
    decryptRetained(frame: WireFrame): Promise<Retained>;
  };
}

const hook = (page: Page) => ({
  retainKeysOnLeave: () =>
    page.evaluate(() => (globalThis as unknown as PageHook).__darkTower.retainKeysOnLeave()),
  sealedFrame: (participant: string) =>
    page.evaluate(
      (p) => (globalThis as unknown as PageHook).__darkTower.sealedFrame(p),
      participant,
    ),
  sealProbe: (text: string) =>
    page.evaluate((t) => (globalThis as unknown as PageHook).__darkTower.sealProbe(t), text),
  decryptRetained: (frame: WireFrame) =>
    page.evaluate((f) => (globalThis as unknown as PageHook).__darkTower.decryptRetained(f), frame),
});

const people: Participant[] = [];
let meeting = '';
const joinTimes: (JoinSample & {
  participant: string;
  signaling: string | null;
  media: string | null;
})[] = [];

/** What carries signaling and media unless a test says otherwise. */
const DEFAULT_TRANSPORT = 'webtransport';

async function open(
  browser: Browser,
  name: string,
  options: { olderBrowser?: boolean } = {},
): Promise<Participant> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  if (options.olderBrowser === true) {
    // A browser without WebTransport (as Safari before 18 or Firefox behind a policy), whose
    // VideoFrame.copyTo does not know `format` (it copies the frame's own planes).
    await page.addInitScript(() => {
      delete (globalThis as { WebTransport?: unknown }).WebTransport;
      // (Written without DOM types: this file is also compiled for Node.)
      const frames = (
        globalThis as unknown as {
          VideoFrame: { prototype: { copyTo(destination: unknown, options?: object): unknown } };
        }
      ).VideoFrame.prototype;
      const copyTo = frames.copyTo;
      frames.copyTo = function (this: unknown, destination: unknown, options?: object) {
        const { format: _ignored, ...known } = (options ?? {}) as { format?: unknown };
        return copyTo.call(this, destination, known);
      };
    });
  }
  await page.goto(`${stack().webUrl}/`);
  return { name, context, page, id: '', code: 0 };
}

/**
 * Fills the join form (an empty meeting code creates the meeting), waits for media and checks
 * what carries signaling and media.
 */
async function join(
  p: Participant,
  meetingCode: string | undefined,
  transport = DEFAULT_TRANSPORT,
): Promise<void> {
  const user = stack().users.find((u) => u.username === p.name);
  if (user === undefined) throw new Error(`no user ${p.name}`);
  await p.page.fill('input[name=username]', user.username);
  await p.page.fill('input[name=password]', user.password);
  if (meetingCode === undefined) {
    await p.page.click('button[value=create]');
  } else {
    await p.page.fill('input[name=meeting]', meetingCode);
    await p.page.click('button[value=join]');
  }
  await expect
    .poll(async () => (await snapshot(p.page)).state, { timeout: 20_000 })
    .toBe('connected');
  const s = await snapshot(p.page);
  p.id = s.participantId as string;
  p.code = s.ownCode as number;
  expect({ signaling: s.transport.signaling, media: s.transport.media }).toEqual({
    signaling: transport,
    media: transport,
  });
  await expect(p.page.locator('#status')).toContainText(`signaling: ${transport}`);
  await expect(p.page.locator('#status')).toContainText(`(media: ${transport})`);
}

/** What `viewer` decodes of `shown`: frames, and the tag's counter and code. */
async function decodedOf(viewer: Participant, shown: Participant) {
  return (await snapshot(viewer.page)).remotes[shown.id];
}

/** Waits until `viewer` decodes frames whose pixels name `shown`, then until their counter advances. */
async function expectDecodesAdvancing(viewer: Participant, shown: Participant): Promise<void> {
  await expect
    .poll(async () => (await decodedOf(viewer, shown))?.code, {
      message: `${viewer.name} decodes ${shown.name}`,
      timeout: 20_000,
    })
    .toBe(shown.code);
  const first = (await decodedOf(viewer, shown))?.counter ?? 0;
  await expect
    .poll(async () => (await decodedOf(viewer, shown))?.counter ?? 0, {
      message: `${shown.name}'s frame counter advances at ${viewer.name}`,
    })
    .toBeGreaterThan(first + 5);
}

function overlaps(
  a: { x: number; y: number; width: number; height: number },
  b: typeof a,
): boolean {
  return (
    a.x < b.x + b.width - 0.5 &&
    b.x < a.x + a.width - 0.5 &&
    a.y < b.y + b.height - 0.5 &&
    b.y < a.y + a.height - 0.5
  );
}

/** Every visible region of the page lies inside 1366x768 and none overlaps another. */
async function expectNoOverlap(page: Page): Promise<void> {
  const boxes: { name: string; box: { x: number; y: number; width: number; height: number } }[] =
    [];
  const selectors = [
    'header',
    '#stage .tile',
    '#self-view',
    '#sidebar .row',
    '#sidebar h2',
    '#participants li',
    '#leave',
  ];
  for (const selector of selectors) {
    for (const [i, element] of (await page.locator(selector).all()).entries()) {
      const box = await element.boundingBox();
      if (box !== null && box.width > 0 && box.height > 0)
        boxes.push({ name: `${selector}[${i}]`, box });
    }
  }
  expect(boxes.length).toBeGreaterThan(6);
  for (const { name, box } of boxes) {
    expect({
      name,
      inside:
        box.x >= 0 && box.y >= 0 && box.x + box.width <= 1366.5 && box.y + box.height <= 768.5,
    }).toEqual({ name, inside: true });
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i] as (typeof boxes)[number];
      const b = boxes[j] as (typeof boxes)[number];
      expect({ pair: `${a.name} / ${b.name}`, overlap: overlaps(a.box, b.box) }).toEqual({
        pair: `${a.name} / ${b.name}`,
        overlap: false,
      });
    }
  }
}

async function recordJoins(p: Participant): Promise<void> {
  const s = await snapshot(p.page);
  for (const j of s.joins) {
    joinTimes.push({
      participant: p.name,
      signaling: s.transport.signaling,
      media: s.transport.media,
      ...j,
    });
  }
}

test.describe.configure({ mode: 'serial' });

test.afterEach(async ({ browserName: _browser }, testInfo) => {
  if (testInfo.status === testInfo.expectedStatus) return;
  // Every page's screenshot of a failed test (Playwright keeps the traces: trace retain-on-failure).
  for (const p of people) {
    await p.page.screenshot({ path: testInfo.outputPath(`${p.name}.png`) }).catch(() => undefined);
    const state = await snapshot(p.page).catch((error: unknown) => String(error));
    writeFileSync(testInfo.outputPath(`${p.name}-state.json`), JSON.stringify(state, null, 2));
  }
});

/** What each page lost keeping up (a loaded machine shows here before it fails a test). */
const pageLosses: {
  participant: string;
  decrypt_failures: number;
  behind_drops: { video: number; audio: number } | null;
  outgoing_queue_full_drops: number | null;
}[] = [];

test.afterAll(async () => {
  for (const p of people) {
    await recordJoins(p).catch(() => undefined);
    const s = (await snapshot(p.page).catch(() => undefined)) as
      | (Snapshot & {
          decryptFailures?: number;
          behindDrops?: { video: number; audio: number };
          transport: { outgoingQueueFullDrops?: number };
        })
      | undefined;
    if (s !== undefined)
      pageLosses.push({
        participant: p.name,
        decrypt_failures: s.decryptFailures ?? 0,
        behind_drops: s.behindDrops ?? null,
        outgoing_queue_full_drops: s.transport?.outgoingQueueFullDrops ?? null,
      });
    await p.context.close().catch(() => undefined);
  }
  if (joinTimes.length === 0) return;
  mkdirSync(REPORTS, { recursive: true });
  const report = {
    what:
      'browser join to the first remote frame decoded, in ms from the join form submitted ' +
      '(AC login, GC lookup or creation, MC join, MH hello, first VP8 frame decoded from the new ' +
      'media session); reconnects from the connection loss. The first member of a meeting is ' +
      'left out (its first frame waits for a second member). Three pages of one Chromium on ' +
      'the same 2-core machine as every service. platform_after_login is steps 3 to 8 (from ' +
      "AC's answer); login is AC's bcrypt check of the password. after_login_ms: each step's " +
      "time from AC's answer (reconnects: from the loss), p50 and p99; stage_ms: each stage " +
      'from the step that starts it to the one that ends it (STAGES in join-report.ts; MLS keys ' +
      'and media connect run side by side after the join answer).',
    chromium: '/usr/bin/chromium',
    // The users' passwords are hashed at AC's minimum (and default) cost; AC accepts no lower.
    bcrypt_cost: 12,
    transport:
      'signaling and media of each sample as the page reported them: webtransport (native, ' +
      'HTTP/3, certificate hash pinned) or websocket (the fallback)',
    joins: summary(joinTimes.filter((j) => !j.reconnect && !j.alone)),
    joins_by_transport: Object.fromEntries(
      [...new Set(joinTimes.map((j) => j.media ?? 'none'))].map((t) => [
        t,
        summary(joinTimes.filter((j) => !j.reconnect && !j.alone && (j.media ?? 'none') === t)),
      ]),
    ),
    reconnects: summary(joinTimes.filter((j) => j.reconnect)),
    first_member_excluded: joinTimes.filter((j) => j.alone).length,
    // Each page at the end, over its last join: frames that did not decrypt (before the keys of
    // their epoch came, or after) and frames skipped because it was behind; and since the page
    // opened, media datagrams it dropped because the browser was not taking its writes.
    page_losses: pageLosses,
    samples: joinTimes,
  };
  writeFileSync(`${REPORTS}browser-join.json`, `${JSON.stringify(report, null, 2)}\n`);
});

test('three browsers join one meeting and each decodes the other two', async ({ browser }) => {
  // Three whole joins (AC login with bcrypt, GC, MC, MLS epochs, media) on a loaded machine.
  test.setTimeout(120_000);
  for (const name of ['alice', 'bob', 'carol']) people.push(await open(browser, name));
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  await join(alice, undefined);
  meeting = (await snapshot(alice.page)).meetingId as string;
  expect(meeting).toMatch(/^[A-Za-z0-9_-]+$/);
  await join(bob, meeting);
  await join(carol, meeting);
  expect(new Set(people.map((p) => p.id)).size).toBe(3);

  for (const viewer of people) {
    for (const shown of people) if (shown !== viewer) await expectDecodesAdvancing(viewer, shown);
  }
  for (const viewer of people) {
    const s = await snapshot(viewer.page);
    expect(s.members.sort()).toEqual(people.map((p) => p.id).sort());
    // Keys are end-to-end: every page is in the meeting's MLS group, in the same epoch.
    expect(s.endToEnd).toBe(true);
    expect(s.mlsEpoch).toBe((await snapshot(alice.page)).mlsEpoch);
    await expect(viewer.page.locator('#status')).toContainText(`MLS epoch ${s.mlsEpoch}`);
    // The tiles carry what was decoded, read off the pixels.
    for (const shown of people.filter((p) => p !== viewer)) {
      await expect(viewer.page.locator(`.tile[data-participant="${shown.id}"]`)).toHaveAttribute(
        'data-tag-code',
        String(shown.code),
      );
    }
    await expect(viewer.page.locator('#participants li')).toHaveCount(3);
  }
  await expectNoOverlap(alice.page);
  mkdirSync(`${REPORTS}browser`, { recursive: true });
  await alice.page.screenshot({ path: `${REPORTS}browser/three-participants.png` });
});

test('each page decodes the others’ Opus audio: frames keep coming and carry the sender’s tone', async () => {
  // Debian's Chromium encodes and decodes Opus through WebCodecs: every page sends audio.
  const tones = new Map<string, number>();
  for (const p of people) {
    const s = await snapshot(p.page);
    expect(s.audioSupported, `${p.name} has Opus in WebCodecs`).toBe(true);
    expect(s.ownToneHz).not.toBeNull();
    tones.set(p.id, s.ownToneHz as number);
  }
  const heard = async (viewer: Participant, shown: Participant) =>
    (await snapshot(viewer.page)).audio[shown.id];
  for (const viewer of people) {
    for (const shown of people.filter((p) => p !== viewer)) {
      // Half a second decoded, then the tone measured over it is the sender's.
      await expect
        .poll(async () => (await heard(viewer, shown))?.toneHz ?? null, {
          message: `${viewer.name} hears ${shown.name}'s tone`,
          timeout: 20_000,
        })
        .not.toBeNull();
      const first = (await heard(viewer, shown)) as HeardAudio;
      expect(Math.abs((first.toneHz as number) - (tones.get(shown.id) as number))).toBeLessThan(3);
      // 20 ms frames keep coming, with later timestamps.
      await expect
        .poll(async () => (await heard(viewer, shown))?.decodedFrames ?? 0, {
          message: `${shown.name}'s audio keeps arriving at ${viewer.name}`,
        })
        .toBeGreaterThan(first.decodedFrames + 25);
      const later = (await heard(viewer, shown)) as HeardAudio;
      expect(later.lastTimestampUs as number).toBeGreaterThan(
        (first.lastTimestampUs as number) + 400_000,
      );
      expect(Math.abs((later.toneHz as number) - (tones.get(shown.id) as number))).toBeLessThan(3);
      // The participant list shows it too.
      const item = viewer.page.locator(`#participants li[data-participant="${shown.id}"]`);
      await expect(item).toHaveAttribute('data-audio-frames', /^[1-9][0-9]*$/);
      expect(
        Math.abs(Number(await item.getAttribute('data-audio-tone-hz')) - tones.get(shown.id)!),
      ).toBeLessThan(3);
    }
    // Nobody hears itself.
    expect((await snapshot(viewer.page)).audio[viewer.id]).toBeUndefined();
  }
});

test('a layout change promotes the right participant to the main tile', async () => {
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  await alice.page.selectOption('#layout', 'speaker');
  // Nobody pinned, nobody spoke: the main tile shows the first in join order (bob).
  const main = alice.page.locator('.tile[data-main="true"]');
  await expect(main).toHaveAttribute('data-participant', bob.id);
  await expect(main).toHaveAttribute('data-tag-code', String(bob.code));
  await expect(alice.page.locator('.thumbnails .tile')).toHaveCount(1);
  await expect(alice.page.locator('.thumbnails .tile')).toHaveAttribute(
    'data-participant',
    carol.id,
  );

  await alice.page.locator(`#participants li[data-participant="${carol.id}"] button.pin`).click();
  await expect(main).toHaveAttribute('data-participant', carol.id);
  await expect(main).toHaveAttribute('data-reason', 'pinned');
  // The main tile's pixels are carol's frames, and they keep coming.
  await expect(main).toHaveAttribute('data-tag-code', String(carol.code));
  const before = Number(await main.getAttribute('data-tag-counter'));
  await expect
    .poll(async () => Number(await main.getAttribute('data-tag-counter')))
    .toBeGreaterThan(before + 5);
  await expect(alice.page.locator('.thumbnails .tile')).toHaveAttribute('data-participant', bob.id);
  await expectNoOverlap(alice.page);
  await alice.page.screenshot({ path: `${REPORTS}browser/speaker-view-pinned.png` });
});

test('a page that loses its connections rejoins as the same participant', async () => {
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  const id = carol.id;
  const before = (await snapshot(carol.page)).reconnects;
  // The page loses both connections without a leave. (Playwright's setOffline does not close
  // open WebSockets to loopback in Chromium, so the page closes them itself, as a network
  // failure would: the controller and the handler see them end with no Leave.)
  await carol.page.evaluate(() =>
    (globalThis as unknown as PageHook).__darkTower.dropConnections(),
  );
  await expect.poll(async () => (await snapshot(carol.page)).reconnects).toBeGreaterThan(before);
  await expect
    .poll(async () => (await snapshot(carol.page)).state, { timeout: 20_000 })
    .toBe('connected');
  const after = await snapshot(carol.page);
  expect(after.participantId).toBe(id);
  // Media flows both ways again.
  for (const viewer of [alice, bob]) await expectDecodesAdvancing(viewer, carol);
  for (const shown of [alice, bob]) await expectDecodesAdvancing(carol, shown);
  for (const viewer of people) {
    expect((await snapshot(viewer.page)).members.sort()).toEqual(people.map((p) => p.id).sort());
  }
});

test('a page whose media session drops reports it and is moved back by the controller', async () => {
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  const before = await snapshot(bob.page);
  // Only the media connection ends; signaling stays. The page tells the controller at once
  // (MediaConnected with no handler) and follows the move the controller sends back.
  await bob.page.evaluate(() => (globalThis as unknown as PageHook).__darkTower.dropMedia());
  await expect
    .poll(async () => (await snapshot(bob.page)).reconnects)
    .toBeGreaterThan(before.reconnects);
  await expect
    .poll(async () => (await snapshot(bob.page)).state, { timeout: 20_000 })
    .toBe('connected');
  const after = await snapshot(bob.page);
  expect(after.participantId).toBe(before.participantId);
  // The same MLS member: the keys did not change for a media loss.
  expect(after.mlsEpoch).toBe(before.mlsEpoch);
  for (const viewer of [alice, carol]) await expectDecodesAdvancing(viewer, bob);
  for (const shown of [alice, carol]) await expectDecodesAdvancing(bob, shown);
});

test('a participant who leaves and joins again is seen again by the others', async () => {
  // Three rounds, each a whole join (AC login with bcrypt, GC, MC, media) and an MLS epoch
  // for the leave and one for the join: more than the default on a loaded 2-core machine.
  test.setTimeout(120_000);
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  for (let round = 0; round < 3; round++) {
    await bob.page.click('#leave');
    for (const viewer of [alice, carol]) {
      await expect
        .poll(async () => (await snapshot(viewer.page)).members.includes(bob.id))
        .toBe(false);
      await expect(viewer.page.locator(`.tile[data-participant="${bob.id}"]`)).toHaveCount(0);
    }
    await join(bob, meeting);
    for (const viewer of [alice, carol]) await expectDecodesAdvancing(viewer, bob);
    for (const shown of [alice, carol]) await expectDecodesAdvancing(bob, shown);
  }
});

/** The main tile's participant, what it shows and the tag read off its pixels. */
async function mainTile(page: Page) {
  const main = page.locator('.tile[data-main="true"]');
  return {
    participant: await main.getAttribute('data-participant'),
    kind: await main.getAttribute('data-kind'),
    reason: await main.getAttribute('data-reason'),
    code: Number(await main.getAttribute('data-tag-code')),
    counter: Number(await main.getAttribute('data-tag-counter')),
  };
}

test('a screen share takes the main tile in the other pages, and stopping it returns to the speaker layout', async () => {
  // Two layout changes, each waited for on two pages, with decoders restarting at keyframes.
  test.setTimeout(120_000);
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  // Bob, who joined last (above), shares. Alice unpins carol (pinned above): both viewers show
  // the speaker layout with no pin, and nobody has spoken, so join order fills the main tile.
  const sharer = bob;
  await alice.page.locator(`#participants li[data-participant="${carol.id}"] button.pin`).click();
  await carol.page.selectOption('#layout', 'speaker');
  const viewers = [alice, carol];
  const before = new Map<Participant, Awaited<ReturnType<typeof mainTile>>>();
  for (const viewer of viewers) {
    await expect(viewer.page.locator('.tile[data-main="true"]')).toHaveAttribute(
      'data-kind',
      'camera',
    );
    await expect(viewer.page.locator('.tile[data-main="true"]')).not.toHaveAttribute(
      'data-participant',
      sharer.id,
    );
    before.set(viewer, await mainTile(viewer.page));
  }

  await sharer.page.click('#share');
  const screenCode = (await snapshot(sharer.page)).ownScreenCode as number;
  expect(screenCode).not.toBe(sharer.code);
  for (const viewer of viewers) {
    const main = viewer.page.locator('.tile[data-main="true"]');
    await expect(main).toHaveAttribute('data-participant', sharer.id);
    await expect(main).toHaveAttribute('data-kind', 'screen');
    await expect(main).toHaveAttribute('data-reason', 'screen-share');
    // The main tile's pixels are the sharer's screen (its own tag code), and its frames keep coming.
    await expect(main).toHaveAttribute('data-tag-code', String(screenCode));
    const first = Number(await main.getAttribute('data-tag-counter'));
    await expect
      .poll(async () => Number(await main.getAttribute('data-tag-counter')))
      .toBeGreaterThan(first + 5);
    // The speaker who had the main tile moved to the thumbnails.
    const previous = before.get(viewer)?.participant as string;
    await expect(
      viewer.page.locator(`.thumbnails .tile[data-participant="${previous}"]`),
    ).toHaveCount(1);
  }
  await expectNoOverlap(carol.page);
  await carol.page.screenshot({ path: `${REPORTS}browser/screen-share.png` });

  await sharer.page.click('#share');
  for (const viewer of viewers) {
    const main = viewer.page.locator('.tile[data-main="true"]');
    const was = before.get(viewer) as Awaited<ReturnType<typeof mainTile>>;
    await expect(main).toHaveAttribute('data-participant', was.participant as string);
    await expect(main).toHaveAttribute('data-kind', 'camera');
    await expect(main).toHaveAttribute('data-tag-code', String(was.code));
    // The sharer's tile shows its camera again, decoded.
    const tile = viewer.page.locator(`.tile[data-participant="${sharer.id}"]`);
    await expect(tile).toHaveAttribute('data-kind', 'camera');
    await expect(tile).toHaveAttribute('data-tag-code', String(sharer.code), { timeout: 20_000 });
  }
});

test('in speaker view the main tile follows the controller’s latest speaker', async () => {
  // After the screen share (above): once someone has spoken, speaker view's main tile follows
  // the latest speaker, not a screen share, and the meeting keeps its speaker history, so this
  // runs after the tests that need nobody to have spoken.
  test.setTimeout(120_000);
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  const layouts = new Map<Participant, string>();
  for (const p of people) layouts.set(p, await p.page.inputValue('#layout'));
  for (const p of people) await p.page.selectOption('#layout', 'speaker');
  for (const p of people)
    expect(await p.page.locator('.tile[data-reason="pinned"]').count()).toBe(0);
  // Nobody has spoken: join order fills the main tile (bob joined last), never bob.
  for (const viewer of [alice, carol]) {
    await expect(viewer.page.locator('.tile[data-main="true"]')).not.toHaveAttribute(
      'data-participant',
      bob.id,
    );
  }

  /** `viewer`'s main tile shows `shown`'s camera as its latest speaker, decoded and advancing. */
  const expectMain = async (viewer: Participant, shown: Participant) => {
    const main = viewer.page.locator('.tile[data-main="true"]');
    await expect(main, `${viewer.name}'s main tile`).toHaveAttribute('data-participant', shown.id);
    await expect(main).toHaveAttribute('data-reason', 'active-speaker');
    await expect(main).toHaveAttribute('data-kind', 'camera');
    await expect(main).toHaveAttribute('data-tag-code', String(shown.code), { timeout: 20_000 });
    const first = Number(await main.getAttribute('data-tag-counter'));
    await expect
      .poll(async () => Number(await main.getAttribute('data-tag-counter')))
      .toBeGreaterThan(first + 5);
  };

  await bob.page.click('#speak');
  for (const viewer of [alice, carol]) await expectMain(viewer, bob);
  await expectNoOverlap(alice.page);
  await alice.page.screenshot({ path: `${REPORTS}browser/speaker-view-active-speaker.png` });

  await carol.page.click('#speak');
  for (const viewer of [alice, bob]) await expectMain(viewer, carol);
  // Carol does not see herself: her main tile keeps the speaker before her.
  await expectMain(carol, bob);
  // The one who spoke before moved to the thumbnails.
  await expect(alice.page.locator(`.thumbnails .tile[data-participant="${bob.id}"]`)).toHaveCount(
    1,
  );

  for (const [p, layout] of layouts) await p.page.selectOption('#layout', layout);
});

test('after a leave the others move to a new MLS epoch and keep decoding; the leaver’s kept keys cannot read it', async () => {
  const [alice, bob, carol] = people as [Participant, Participant, Participant];
  const epoch = (await snapshot(bob.page)).mlsEpoch as number;
  for (const p of people) expect((await snapshot(p.page)).mlsEpoch).toBe(epoch);
  // Alice will keep every key she holds when she leaves (a leaver who does not erase them).
  await hook(alice.page).retainKeysOnLeave();
  const oldProbe = (await hook(bob.page).sealProbe('sealed before the leave')) as WireFrame;
  expect(oldProbe.epoch).toBe(epoch);

  await alice.page.click('#leave');
  for (const p of [bob, carol]) {
    await expect.poll(async () => (await snapshot(p.page)).mlsEpoch).toBeGreaterThan(epoch);
  }
  const next = (await snapshot(bob.page)).mlsEpoch as number;
  expect((await snapshot(carol.page)).mlsEpoch).toBe(next);
  // Bob and carol keep decoding each other, from frames sealed in the new epoch.
  await expectDecodesAdvancing(bob, carol);
  await expectDecodesAdvancing(carol, bob);
  await expect.poll(async () => (await hook(bob.page).sealedFrame(carol.id))?.epoch).toBe(next);
  const captured = (await hook(bob.page).sealedFrame(carol.id)) as WireFrame;
  const newProbe = (await hook(bob.page).sealProbe('sealed after the leave')) as WireFrame;

  // Alice kept the keys of the epoch she left: they still open what was sealed in it...
  expect((await snapshot(alice.page)).retainedEpochs).toContain(epoch);
  expect(await hook(alice.page).decryptRetained(oldProbe)).toEqual({
    ok: true,
    text: 'sealed before the leave',
    epoch,
  });
  // ...and open nothing of the new epoch: neither a frame carol sent nor bob's probe.
  expect(await hook(alice.page).decryptRetained(captured)).toEqual({
    ok: false,
    kind: 'unknown-kid',
  });
  expect(await hook(alice.page).decryptRetained(newProbe)).toEqual({
    ok: false,
    kind: 'unknown-kid',
  });
});

test('a browser without WebTransport falls back to WebSocket and still joins, and one without RGBA frame copies still reads the frames it decodes', async ({
  browser,
}) => {
  // Alice left in the test above: bob and carol are the meeting.
  const [, bob, carol] = people as [Participant, Participant, Participant];
  const dave = await open(browser, 'dave', { olderBrowser: true });
  people.push(dave);
  await join(dave, meeting, 'websocket');
  expect((await snapshot(dave.page)).transport.failures.join(' ')).toContain(
    'webtransport: this browser has no WebTransport',
  );
  // Media crosses between the carriers: the handler forwards WebSocket media to WebTransport
  // receivers and back.
  for (const viewer of [bob, carol]) await expectDecodesAdvancing(viewer, dave);
  // Dave's frames are drawn and their tags read from the tag's rows (no RGBA copy here).
  for (const shown of [bob, carol]) await expectDecodesAdvancing(dave, shown);
});
