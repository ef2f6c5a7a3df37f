/**
 * The page: a join form, the stage (tiles as the layout says), a side bar (self view, layout,
 * participants with pins, screen share, leave) and a status bar (connection, handler, MLS
 * epoch). Tests read `window.__darkTower.snapshot()` and the tiles' data attributes.
 */
import './buffer-global.ts';
import { mediaPublisherId, mediaStreamId } from '../../../core/mh/stream-id.ts';
import { frameMetadata } from '../../media/frame-metadata.ts';
import type { MeetingId, ParticipantId } from '../../../core/ids.ts';
import type { Endpoints } from './api.ts';
import { audioSummary } from './audio.ts';
import type { LayoutName } from './layout.ts';
import { FallbackMedia, outgoingDrops } from './media-transport.ts';
import { MeetingSession, screenCode, type JoinTiming, type SealedFrame } from './session.ts';
import { FallbackSignaling, TRANSPORT_ORDER, type TransportName } from './signaling.ts';
import type { RemoteVideo } from './video.ts';
import { warmUpMls } from './mls-warm-up.ts';

const params = new URLSearchParams(location.search);
const endpoints: Endpoints = {
  ac: params.get('ac') ?? `${location.origin}/ac`,
  gc: params.get('gc') ?? `${location.origin}/gc`,
};

/** `?transport=websocket` (or `webtransport`) keeps to that one; default: WebTransport first. */
const onlyTransport = params.get('transport');
const transportOrder: readonly TransportName[] = TRANSPORT_ORDER.filter(
  (t) => onlyTransport === null || t === onlyTransport,
);
let signalingTransport = new FallbackSignaling(transportOrder);
let mediaTransport = new FallbackMedia(transportOrder);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('join-form');
const stage = $<HTMLElement>('stage');
const statusBar = $<HTMLElement>('status');
const participantsList = $<HTMLUListElement>('participants');
const selfView = $<HTMLElement>('self-view');
const layoutSelect = $<HTMLSelectElement>('layout');
const meetingCode = $<HTMLElement>('meeting-code');
const leaveButton = $<HTMLButtonElement>('leave');
const speakButton = $<HTMLButtonElement>('speak');
const shareButton = $<HTMLButtonElement>('share');

for (const name of ['username', 'password', 'meeting'] as const) {
  const value = params.get(name);
  if (value !== null) (form.elements.namedItem(name) as HTMLInputElement).value = value;
}

let session: MeetingSession | undefined;
/** The join timings of this page's earlier sessions (a participant who left and joined again). */
const earlierJoins: JoinTiming[] = [];

function statusText(s: MeetingSession): string {
  const parts = [
    `state: ${s.state}`,
    s.participantId === undefined ? '' : `you: ${s.participantId}`,
    signalingTransport.inUse === undefined ? '' : `signaling: ${signalingTransport.inUse}`,
    s.handler === undefined
      ? ''
      : `handler: ${s.handler.id} (media: ${mediaTransport.inUse ?? 'connecting'})`,
    s.mlsEpoch === undefined
      ? 'keys: joining the MLS group'
      : `MLS epoch ${s.mlsEpoch} (end-to-end)`,
    s.screen === undefined ? '' : 'sharing your screen',
    s.reconnects > 0 ? `reconnects: ${s.reconnects}` : '',
    s.error === undefined ? '' : `⚠ ${s.error}`,
  ];
  return parts.filter((p) => p !== '').join(' · ');
}

function tileFor(video: RemoteVideo | undefined, participant: string): HTMLElement {
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.participant = participant;
  // A decoder made ahead of its first frame shows "waiting" until a frame is decoded.
  if (video !== undefined && video.decodedFrames > 0) tile.append(video.canvas);
  else {
    const waiting = document.createElement('div');
    waiting.className = 'waiting';
    waiting.textContent = 'waiting for video…';
    tile.append(waiting);
  }
  const label = document.createElement('span');
  label.className = 'label';
  tile.append(label);
  return tile;
}

function updateTileMeta(tile: HTMLElement, video: RemoteVideo | undefined): void {
  if (video === undefined) return;
  tile.dataset.decodedFrames = String(video.decodedFrames);
  if (video.lastTag !== undefined) {
    tile.dataset.tagCounter = String(video.lastTag.counter);
    tile.dataset.tagCode = String(video.lastTag.code);
  }
}

function render(): void {
  const s = session;
  if (s === undefined) return;
  statusBar.textContent = statusText(s);
  statusBar.dataset.state = s.state;
  document.body.dataset.state = s.state;
  form.hidden = s.state !== 'failed' && s.state !== 'idle' && s.state !== 'left';
  stage.hidden = !form.hidden;
  meetingCode.textContent = s.meetingId ?? '';
  if (s.camera !== undefined && selfView.firstChild !== s.camera.canvas) {
    selfView.replaceChildren(s.camera.canvas);
  }
  // Participants, with pin buttons.
  const pinned = s.layout?.pinned() ?? [];
  participantsList.replaceChildren(
    ...s.members.map((member) => {
      const item = document.createElement('li');
      item.dataset.participant = member;
      const name = document.createElement('span');
      name.textContent = member === s.participantId ? `(you) ${member}` : member;
      name.title = member;
      item.append(name);
      if (member !== s.participantId) {
        const pin = document.createElement('button');
        pin.type = 'button';
        pin.className = 'pin';
        pin.textContent = pinned.includes(member) ? 'Unpin' : 'Pin';
        pin.onclick = () => s.togglePin(member);
        item.append(pin);
      }
      return item;
    }),
  );
  // Tiles as the layout says.
  const view = s.layout?.view();
  stage.dataset.layout = view?.name ?? 'grid';
  const main = view?.tiles.find((t) => t.main);
  const rest = view?.tiles.filter((t) => !t.main) ?? [];
  const make = (participant: string, kind: string, reason: string, isMain: boolean) => {
    const video = (kind === 'screen' ? s.screens : s.remotes).get(participant)?.video;
    const tile = tileFor(video, participant);
    tile.dataset.kind = kind;
    tile.dataset.main = String(isMain);
    tile.dataset.reason = reason;
    (tile.querySelector('.label') as HTMLElement).textContent =
      `${participant}${kind === 'screen' ? ' · screen' : ''}${reason === 'pinned' ? ' · pinned' : ''}`;
    updateTileMeta(tile, video);
    return tile;
  };
  const tiles: HTMLElement[] = [];
  if (main !== undefined) {
    const mainArea = document.createElement('div');
    mainArea.className = 'main-area';
    mainArea.append(make(main.participant, main.kind, main.reason, true));
    tiles.push(mainArea);
  }
  const strip = document.createElement('div');
  strip.className = main !== undefined ? 'thumbnails' : 'grid';
  strip.dataset.count = String(rest.length);
  strip.append(...rest.map((t) => make(t.participant, t.kind, t.reason, false)));
  tiles.push(strip);
  stage.replaceChildren(...tiles);
  shareButton.textContent = s.screen === undefined ? 'Share screen' : 'Stop sharing';
  shareButton.setAttribute('aria-pressed', String(s.screen !== undefined));
}

/** Each participant's entry in the list says how much of its audio arrived and what tone. */
function updateAudio(): void {
  const s = session;
  if (s === undefined) return;
  for (const item of participantsList.querySelectorAll<HTMLElement>('li[data-participant]')) {
    const remote = s.audio.remotes.get(item.dataset.participant as string);
    if (remote === undefined) continue;
    const summary = audioSummary(remote);
    item.dataset.audioFrames = String(summary.decodedFrames);
    if (summary.toneHz !== null) item.dataset.audioToneHz = String(summary.toneHz);
  }
}
setInterval(updateAudio, 250);

function onDecoded(video: RemoteVideo): void {
  const tile = stage.querySelector<HTMLElement>(
    `.tile[data-participant="${CSS.escape(video.participant)}"]`,
  );
  // A camera whose tile shows the screen (frames still in flight) changes nothing.
  if (tile !== null && tile.dataset.kind !== video.source) return;
  if (tile === null || tile.querySelector('canvas') !== video.canvas) return render();
  updateTileMeta(tile, video);
}

// The page's MLS code runs once, on a group of its own, while the page waits for its user.
setTimeout(() => void warmUpMls().catch(() => false), 0);

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
  const data = new FormData(form);
  session?.leave();
  if (session !== undefined) earlierJoins.push(...session.joins);
  signalingTransport = new FallbackSignaling(transportOrder);
  mediaTransport = new FallbackMedia(transportOrder);
  session = new MeetingSession({
    endpoints,
    signaling: signalingTransport.connect,
    media: mediaTransport,
  });
  session.onChange = render;
  session.onDecoded = onDecoded;
  const create = submitter?.value === 'create';
  void session.start({
    username: String(data.get('username')),
    password: String(data.get('password')),
    ...(create ? { title: 'Meeting' } : { meeting: String(data.get('meeting')).trim() }),
    layout: layoutSelect.value as LayoutName,
  });
});

layoutSelect.addEventListener('change', () => session?.setLayout(layoutSelect.value as LayoutName));
leaveButton.addEventListener('click', () => session?.leave());
speakButton.addEventListener('click', () => session?.speak());
shareButton.addEventListener('click', () => session?.shareScreen(session.screen === undefined));

/** What tests (and a curious engineer at the console) read. */
const hook = {
  snapshot() {
    const s = session;
    if (s === undefined) return { state: 'idle' };
    const view = s.layout?.view();
    return {
      state: s.state,
      error: s.error ?? null,
      participantId: s.participantId ?? null,
      meetingId: s.meetingId ?? null,
      handler: s.handler?.id ?? null,
      transport: {
        signaling: signalingTransport.inUse ?? null,
        media: mediaTransport.inUse ?? null,
        failures: [...signalingTransport.failures, ...mediaTransport.failures],
        /** Media datagrams dropped because the browser's send queue was full. */
        outgoingQueueFullDrops: outgoingDrops.queueFull,
      },
      ownCode:
        s.participantId === undefined || s.meetingId === undefined
          ? null
          : Number(
              mediaPublisherId(s.meetingId as MeetingId, s.participantId as ParticipantId) &
                0xffffffffn,
            ),
      ownScreenCode:
        s.participantId === undefined || s.meetingId === undefined
          ? null
          : screenCode(s.meetingId, s.participantId),
      mlsEpoch: s.mlsEpoch ?? null,
      endToEnd: s.mlsEpoch !== undefined,
      /** The epochs whose keys this page kept after leaving (retainKeysOnLeave). */
      retainedEpochs: s.retained?.heldEpochs() ?? [],
      members: [...s.members],
      sharing: [...s.sharing],
      sharingScreen: s.screen !== undefined,
      sentScreenFrames: s.sentScreenFrames,
      audioSupported: s.audioSupported,
      /** The tone this page's synthetic microphone sends (Hz), while it sends. */
      ownToneHz: s.microphone?.toneHz ?? null,
      sentAudioFrames: s.sentAudioFrames,
      audio: Object.fromEntries([...s.audio.remotes].map(([p, r]) => [p, audioSummary(r)])),
      audioDecryptFailures: s.audio.decryptFailures,
      layout: view === undefined ? null : { name: view.name, tiles: view.tiles },
      remotes: Object.fromEntries(
        [...s.remotes].map(([p, r]) => [
          p,
          {
            decodedFrames: r.video.decodedFrames,
            counter: r.video.lastTag?.counter ?? null,
            code: r.video.lastTag?.code ?? null,
          },
        ]),
      ),
      screens: Object.fromEntries(
        [...s.screens].map(([p, r]) => [
          p,
          {
            decodedFrames: r.video.decodedFrames,
            counter: r.video.lastTag?.counter ?? null,
            code: r.video.lastTag?.code ?? null,
          },
        ]),
      ),
      joins: [...earlierJoins, ...s.joins].map((j) => {
        const since = (at: number | undefined) =>
          at === undefined ? null : Math.round((at - j.startedAt) * 10) / 10;
        return {
          reconnect: j.reconnect,
          alone: j.alone ?? false,
          loggedInMs: since(j.loggedInAt),
          meetingMs: since(j.meetingAt),
          keyPackageMs: since(j.keyPackageAt),
          signalingOpenMs: since(j.signalingOpenAt),
          joinSentMs: since(j.joinSentAt),
          joinedMs: since(j.joinedAt),
          mediaMs: since(j.mediaAt),
          welcomeMs: since(j.welcomeAt),
          keysMs: since(j.keysAt),
          firstReceivedMs: since(j.firstReceivedAt),
          firstDecryptedMs: since(j.firstDecryptedAt),
          firstKeyframeMs: since(j.firstKeyframeAt),
          joinToFirstFrameMs: since(j.firstFrameAt),
        };
      }),
      sentFrames: s.sentFrames,
      datagramsReceived: s.datagramsReceived,
      assemblyDrops: { ...s.assembler.drops },
      decryptFailures: s.decryptFailures,
      behindDrops: { video: s.behindDrops, audio: s.audio.behindDrops },
      /** The MLS member's view: epochs held, frames opened and refused by kind, incidents. */
      e2ee: {
        heldEpochs: s.member?.heldEpochs() ?? [],
        decrypted: s.member?.decrypted ?? 0,
        failures: Object.fromEntries(s.member?.failures ?? []),
        incidents: [...s.e2eeIncidents],
        recentFailures: [...(s.member?.recentFailures ?? [])],
        epochs: s.member?.describeEpochs() ?? [],
        sealedByEpoch: Object.fromEntries(s.member?.sealedByEpoch ?? []),
      },
      reconnects: s.reconnects,
    };
  },
  dropConnections: () => session?.dropConnections(),
  dropMedia: () => session?.dropMedia(),
  shareScreen: (sharing: boolean) => session?.shareScreen(sharing),
  /** The next leave keeps this page's MLS member and its keys (`decryptRetained` uses them). */
  retainKeysOnLeave: () => {
    if (session !== undefined) session.retainKeysOnLeave = true;
  },
  /** The last frame from `participant` that decrypted here, as it arrived (still sealed). */
  sealedFrame(participant: string): WireFrame | null {
    const frame = session?.lastSealed.get(participant);
    return frame === undefined ? null : wireFrame(frame);
  },
  /** Seals `text` as this page's camera would seal a frame now (a probe never sent). */
  async sealProbe(text: string): Promise<WireFrame | null> {
    const s = session;
    const member = s?.member;
    if (s?.meetingId === undefined || s.participantId === undefined || member === undefined)
      return null;
    const meeting = s.meetingId as MeetingId;
    const participant = s.participantId as ParticipantId;
    const streamId = mediaStreamId(meeting, participant, 'camera');
    const publisherId = mediaPublisherId(meeting, participant);
    const sealed = await member.encrypt(
      new TextEncoder().encode(text),
      frameMetadata(streamId, publisherId),
    );
    if (!sealed.ok) return null;
    return wireFrame({ bytes: sealed.value, streamId, publisherId, epoch: member.epoch ?? -1 });
  },
  /** Decrypts a frame with the keys this page kept when it left. */
  async decryptRetained(
    frame: WireFrame,
  ): Promise<{ ok: true; text: string; epoch: number } | { ok: false; kind: string }> {
    const member = session?.retained;
    if (member === undefined) return { ok: false, kind: 'nothing-retained' };
    const opened = await member.decrypt(
      Uint8Array.from(atob(frame.bytes), (c) => c.charCodeAt(0)),
      frameMetadata(BigInt(frame.streamId), BigInt(frame.publisherId)),
    );
    if (!opened.ok) return { ok: false, kind: opened.error.kind };
    return {
      ok: true,
      text: new TextDecoder().decode(opened.value.plaintext),
      epoch: Number(opened.value.epoch),
    };
  },
};

/** A sealed frame as tests carry it between pages. */
interface WireFrame {
  readonly bytes: string;
  readonly streamId: string;
  readonly publisherId: string;
  readonly epoch: number;
}

function wireFrame(frame: SealedFrame): WireFrame {
  let binary = '';
  for (const byte of frame.bytes) binary += String.fromCharCode(byte);
  return {
    bytes: btoa(binary),
    streamId: frame.streamId.toString(),
    publisherId: frame.publisherId.toString(),
    epoch: frame.epoch,
  };
}
(window as unknown as { __darkTower: typeof hook }).__darkTower = hook;
