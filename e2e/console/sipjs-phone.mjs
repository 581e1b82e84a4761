// A SIP.js phone in a page, driven by webphone.mjs through window.phone:
// sipjs.html?wss=URL&user=bob@example.com&password=PW registers at once
// and answers every call by itself.
import { UserAgent, Registerer, Inviter, SessionState } from './sip.js/index.js';

const q = new URLSearchParams(location.search);
const [user, domain] = q.get('user').split('@');
const state = { registered: false, call: 'idle', error: '' };
let session = null;

const ua = new UserAgent({
  uri: UserAgent.makeURI(`sip:${user}@${domain}`),
  transportOptions: { server: q.get('wss') },
  authorizationUsername: user,
  authorizationPassword: q.get('password') || undefined,
  logLevel: 'warn',
  delegate: {
    onInvite(invitation) {
      follow(invitation);
      invitation.accept({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
    },
  },
});

function follow(s) {
  session = s;
  state.call = 'calling';
  s.stateChange.addListener(st => {
    if (st === SessionState.Established) {
      state.call = 'established';
      const pc = s.sessionDescriptionHandler.peerConnection;
      const remote = new MediaStream();
      pc.getReceivers().forEach(r => r.track && remote.addTrack(r.track));
      document.getElementById('remote').srcObject = remote;
    }
    if (st === SessionState.Terminated) state.call = 'terminated';
    document.getElementById('state').textContent = state.call;
  });
}

window.phone = {
  state,
  async call(target) {
    const inviter = new Inviter(ua, UserAgent.makeURI(target), {
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
    });
    follow(inviter);
    await inviter.invite();
  },
  hangup() {
    if (!session) return;
    if (session.state === SessionState.Established) session.bye();
  },
  // bytes sums the RTP bytes of the call so far.
  async bytes() {
    const pc = session && session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
    let sent = 0, received = 0;
    if (pc) (await pc.getStats()).forEach(r => {
      if (r.type === 'outbound-rtp') sent += r.bytesSent || 0;
      if (r.type === 'inbound-rtp') received += r.bytesReceived || 0;
    });
    return { sent, received };
  },
};

try {
  await ua.start();
  const reg = new Registerer(ua, { expires: 300 });
  reg.stateChange.addListener(st => { state.registered = st === 'Registered'; });
  await reg.register();
} catch (e) {
  state.error = String(e);
}
