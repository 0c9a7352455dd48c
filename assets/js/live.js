// Live updates: the /ws stream when the server has it, otherwise polling.
// Pages subscribe with Chattu.live.on(fn) and register pollers with Chattu.live.poll(fn, ms); pollers run
// only while the WebSocket is not connected. The router calls Chattu.live.leavePage() on navigation.
//
// Events are JSON text frames. The dashboard reads `type` (or `event`), `clientId` and the rest of the
// object (or of its `data` member): client_status {status}, qr {qrCode}, message {chatId, message},
// ack {chatId, messageId, ack}, reaction {chatId, messageId, reaction}. Unknown types make pages refresh.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const listeners = new Set();
  const pollers = new Set();
  let socket = null;
  let mode = 'offline';
  let retryMs = 5000;
  let retryTimer = null;
  let wanted = false;

  function setMode(next) {
    mode = next;
    const badge = document.getElementById('live-state');
    if (badge) {
      badge.textContent = next === 'live' ? 'live' : next === 'polling' ? 'polling' : 'offline';
      badge.className = 'live-state ' + next;
      badge.title =
        next === 'live'
          ? 'Receiving updates over a WebSocket'
          : 'The live stream is unavailable; pages refresh every few seconds';
    }
    for (const p of pollers) schedulePoller(p);
  }

  function normalise(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (err) {
      return null;
    }
    if (!msg || typeof msg !== 'object') return null;
    const data = msg.data && typeof msg.data === 'object' ? msg.data : {};
    const event = Object.assign({}, data, msg);
    event.type = String(msg.type || msg.event || data.type || 'unknown');
    event.clientId = msg.clientId || data.clientId || data.client_id || null;
    return event;
  }

  function connect() {
    if (!wanted || socket) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    let opened = false;
    try {
      socket = new WebSocket(url);
    } catch (err) {
      socket = null;
      setMode('polling');
      return retryLater();
    }
    socket.addEventListener('open', () => {
      opened = true;
      retryMs = 5000;
      setMode('live');
    });
    socket.addEventListener('message', (event) => {
      const parsed = normalise(event.data);
      if (!parsed) return;
      for (const fn of [...listeners]) {
        try {
          fn(parsed);
        } catch (err) {
          console.warn('live listener failed', err);
        }
      }
    });
    socket.addEventListener('close', () => {
      socket = null;
      setMode('polling');
      // A stream that never opened is most likely absent on this server: try again rarely.
      if (!opened) retryMs = Math.min(Math.max(retryMs * 4, 60000), 300000);
      retryLater();
    });
  }

  function retryLater() {
    clearTimeout(retryTimer);
    if (wanted) retryTimer = setTimeout(connect, retryMs);
  }

  // Connects straight away: a server without /ws refuses the handshake, and the dashboard then polls
  // and retries rarely (a plain GET probe would cost a failed request on servers that do have it).
  function start() {
    wanted = true;
    setMode('polling');
    connect();
  }

  function stop() {
    wanted = false;
    clearTimeout(retryTimer);
    if (socket) socket.close();
    socket = null;
    setMode('offline');
  }

  function on(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  }

  function schedulePoller(p) {
    clearInterval(p.timer);
    p.timer = null;
    if (mode !== 'live' || p.always) p.timer = setInterval(p.run, p.ms);
  }

  // Calls fn every ms while the stream is down (or always, with {always: true}). Returns a stop function.
  function poll(fn, ms, options) {
    const p = {
      ms,
      always: !!(options && options.always),
      timer: null,
      busy: false,
      async run() {
        if (p.busy || document.hidden || Date.now() < (Chattu.rateLimitedUntil || 0)) return;
        p.busy = true;
        try {
          await fn();
        } catch (err) {
          /* the page shows its own errors; a failed poll is retried next tick */
        } finally {
          p.busy = false;
        }
      },
    };
    pollers.add(p);
    schedulePoller(p);
    return () => {
      clearInterval(p.timer);
      pollers.delete(p);
    };
  }

  function leavePage() {
    listeners.clear();
    for (const p of pollers) clearInterval(p.timer);
    pollers.clear();
  }

  Chattu.live = { start, stop, on, poll, leavePage, get mode() { return mode; } };
})();
