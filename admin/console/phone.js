// The console's web phone: signs in as a user over SIP over WebSocket
// (JsSIP, vendored in jssip.min.js) and places or takes one test call.
// The state shows in data-state attributes, which the e2e test reads.
'use strict';

(() => {
  const $ = sel => document.querySelector(sel);
  const account = $('#account');
  const dial = $('#dial');
  const callLine = $('#call');
  const media = $('#media');
  const answerBtn = $('#answer');
  const hangupBtn = $('#hangup');
  let ua = null;
  let session = null;
  let statsTimer = 0;

  account.url.value = 'wss://' + location.hostname + ':8443';

  function status(state, text) {
    const s = $('#phone-status');
    s.dataset.state = state;
    s.textContent = text || state;
    s.classList.toggle('off', state !== 'registered');
  }

  function callState(state, text) {
    callLine.dataset.state = state;
    callLine.textContent = text;
    answerBtn.hidden = state !== 'incoming';
    hangupBtn.hidden = !['incoming', 'calling', 'ringing', 'established'].includes(state);
  }

  // sipURI turns "alice", "alice@example.com" or a full URI into a SIP URI;
  // a bare user takes the signed-in user's domain.
  function sipURI(s, domain) {
    s = s.trim();
    if (/^sips?:/i.test(s)) return s;
    return 'sip:' + (s.includes('@') ? s : s + '@' + domain);
  }

  account.addEventListener('submit', ev => {
    ev.preventDefault();
    signOut();
    const uri = sipURI(account.user.value, location.hostname);
    const socket = new JsSIP.WebSocketInterface(account.url.value.trim());
    ua = new JsSIP.UA({
      sockets: [socket],
      uri,
      password: account.password.value || undefined,
      register: true,
      session_timers: false,
      user_agent: 'Parley web phone (JsSIP ' + JsSIP.version + ')',
    });
    // A browser hides why a WebSocket failed (a 403 for this page's
    // origin looks like a wrong URL), and JsSIP retries at once: keep
    // every likely cause on show until a connection succeeds.
    const causes = 'is the WebSocket URL right, its certificate accepted, and this page (' + location.origin +
      ') in the server\'s websocket.allowed_origins, if that is set?';
    let failed = false;
    ua.on('connecting', () => status('connecting', failed ? 'connecting again, the last try failed: ' + causes : 'connecting'));
    ua.on('connected', () => { failed = false; status('connected'); });
    ua.on('disconnected', () => { failed = true; status('disconnected', 'disconnected: ' + causes); });
    ua.on('registered', () => status('registered', 'registered as ' + uri));
    ua.on('unregistered', () => status('signed-out', 'signed out'));
    ua.on('registrationFailed', e => status('failed', 'registration failed: ' + (e.response ? e.response.status_code + ' ' + e.response.reason_phrase : e.cause)));
    ua.on('newRTCSession', e => track(e.session, e.originator));
    ua.start();
    account.signout.disabled = false;
    dial.call.disabled = false;
  });

  account.signout.addEventListener('click', signOut);

  function signOut() {
    if (session && !session.isEnded()) session.terminate();
    if (ua) ua.stop();
    ua = null;
    account.signout.disabled = true;
    dial.call.disabled = true;
    status('signed-out', 'signed out');
  }

  dial.addEventListener('submit', ev => {
    ev.preventDefault();
    if (!ua || (session && !session.isEnded())) return;
    const domain = ua.configuration.uri.host;
    ua.call(sipURI(dial.target.value, domain), { mediaConstraints: { audio: true, video: false } });
  });

  answerBtn.addEventListener('click', () => {
    if (session) session.answer({ mediaConstraints: { audio: true, video: false } });
  });

  hangupBtn.addEventListener('click', () => {
    if (session && !session.isEnded()) session.terminate();
  });

  function track(s, originator) {
    if (session && !session.isEnded()) { // one call at a time
      s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    session = s;
    const peer = s.remote_identity.uri.toString();
    if (originator === 'remote') callState('incoming', 'Incoming call from ' + peer);
    else callState('calling', 'Calling ' + peer + '…');
    s.on('progress', () => { if (originator === 'local') callState('ringing', 'Ringing ' + peer + '…'); });
    s.on('confirmed', () => { callState('established', 'In a call with ' + peer); startStats(s); });
    s.on('peerconnection', e => attach(e.peerconnection));
    if (s.connection) attach(s.connection);
    s.on('ended', e => end('Call ended by ' + e.originator + ' (' + e.cause + ')'));
    s.on('failed', e => end('Call failed: ' + e.cause + (e.message && e.message.status_code ? ' (' + e.message.status_code + ')' : '') +
      (mediaCauses.includes(e.cause) ? mediaHint : '')));
  }

  // The causes JsSIP gives when the far phone speaks plain RTP, which a
  // browser cannot talk to: name the fix, as the bare cause does not.
  const mediaCauses = [JsSIP.C.causes.INCOMPATIBLE_SDP, JsSIP.C.causes.BAD_MEDIA_DESCRIPTION, JsSIP.C.causes.WEBRTC_ERROR];
  const mediaHint = ': the other phone is no WebRTC endpoint; a browser needs a media gateway (rtpengine, Janus…) to reach a plain RTP phone';

  function attach(pc) {
    pc.addEventListener('track', e => { $('#remote').srcObject = e.streams[0]; });
  }

  function end(text) {
    clearInterval(statsTimer);
    callState('ended', text);
  }

  // startStats shows the bytes the call's RTP has carried, once a second.
  function startStats(s) {
    clearInterval(statsTimer);
    statsTimer = setInterval(async () => {
      if (!s.connection) return;
      let sent = 0, received = 0;
      (await s.connection.getStats()).forEach(r => {
        if (r.type === 'outbound-rtp') sent += r.bytesSent || 0;
        if (r.type === 'inbound-rtp') received += r.bytesReceived || 0;
      });
      media.dataset.bytesSent = sent;
      media.dataset.bytesReceived = received;
      media.textContent = `Media: ${sent} bytes sent, ${received} bytes received`;
    }, 1000);
  }
})();
