/* global open, __ENV, __VU */
// k6 load on one Media Handler's WebSocket ingress: each VU joins as one participant with the
// token prepared for it, publishes camera datagrams at a fixed rate and counts what it
// receives. Tokens and header templates come from `npx tsx loadtest/k6/prepare.ts` (it installs
// the routes too):
//
//   npx tsx loadtest/k6/prepare.ts --handler mh-1 --participants 10 > /tmp/mh-k6.json
//   k6 run -e MH_K6=/tmp/mh-k6.json loadtest/k6/mh-websocket.js
import ws from 'k6/ws';
import encoding from 'k6/encoding';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { controlKind, datagramBytes, helloBytes } from './mh-wire.js';

const plan = JSON.parse(open(__ENV.MH_K6));
const received = new Counter('mh_datagrams_received');
const sent = new Counter('mh_datagrams_sent');

export const options = {
  vus: plan.participants.length,
  duration: __ENV.DURATION || '30s',
};

export default function () {
  const me = plan.participants[(__VU - 1) % plan.participants.length];
  const perSecond = Number(__ENV.DATAGRAMS_PER_SECOND || 100);
  const response = ws.connect(plan.url, {}, (socket) => {
    let sequence = 0;
    socket.on('open', () => socket.send(encoding.b64encode(helloBytes(me.token), 'std')));
    socket.on('message', (text) => {
      const kind = controlKind(new Uint8Array(encoding.b64decode(text, 'std')));
      if (kind === 'session-closed') return;
      check(kind, { 'hello accepted': (k) => k === 'accepted' });
      if (kind !== 'accepted') return socket.close();
      socket.setInterval(() => {
        socket.sendBinary(datagramBytes(me.template, sequence, sequence, 1_000));
        sequence++;
        sent.add(1);
      }, 1000 / perSecond);
    });
    socket.on('binaryMessage', () => received.add(1));
    socket.setTimeout(() => socket.close(), 1000 * Number(__ENV.SESSION_SECONDS || 25));
  });
  check(response, { upgraded: (r) => r && r.status === 101 });
}
