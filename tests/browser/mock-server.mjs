// A stand-in Chattu server for the browser tests of the dashboard's data-driven parts (chats with media,
// Hebrew text, hostile message bodies, read-only channels, webhook deliveries) that the real binary can
// only show once the WhatsApp engine and simulator exist. It serves assets/ straight from disk and keeps
// its state in memory. Test double only: never used by the product.
//   node tests/browser/mock-server.mjs [port]   (prints "listening on 127.0.0.1:<port>")
import http from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, normalize, extname } from 'node:path';

const ASSETS = fileURLToPath(new URL('../../assets/', import.meta.url));
const PAGES = new Set(['/', '/login', '/chat', '/groups', '/scheduled', '/logs', '/profile', '/admin', '/docs', '/clients']);
const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css', '.js': 'text/javascript', '.json': 'application/json', '.svg': 'image/svg+xml' };
// A 1x1 PNG, served as the QR code and as image media.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const now = () => Math.floor(Date.now() / 1000);

export function createState() {
  return {
    session: null,
    profile: { username: 'admin', role: 'admin', apiKey: '0123456789abcdef0123456789abcdef', clientCount: 1 },
    clients: [{ clientId: 'shop', phoneNumber: '972501234567', apiKey: 'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1', connectedNumber: '972501234567@c.us', status: 'Authenticated', webhookUrl: 'https://hooks.example.com/in' }],
    chats: [
      { id: { _serialized: '972521111111@c.us' }, name: 'דנה כהן', lastMessage: { body: 'שלום! מה שלומך?', timestamp: now() - 60, fromMe: false }, timestamp: now() - 60, unreadCount: 2 },
      { id: { _serialized: '15550001111@c.us' }, name: '<img src=x onerror=alert(1)>', lastMessage: { body: '<script>window.pwned=1</script>', timestamp: now() - 3600, fromMe: true }, timestamp: now() - 3600, unreadCount: 0 },
    ],
    messages: {
      '972521111111@c.us': [
        { id: { _serialized: 'M1' }, body: 'Hi Dana, your order shipped', fromMe: true, timestamp: now() - 300, type: 'chat', hasMedia: false, ack: 3, reactions: [{ reaction: '👍', senderId: '972521111111@c.us' }] },
        { id: { _serialized: 'M2' }, body: '', fromMe: false, timestamp: now() - 120, type: 'image', hasMedia: true, ack: 0, filename: 'photo.png' },
        { id: { _serialized: 'M3' }, body: 'שלום! מה שלומך? I got it, thanks', fromMe: false, timestamp: now() - 60, type: 'chat', hasMedia: false, ack: 0 },
      ],
      '15550001111@c.us': [{ id: { _serialized: 'X1' }, body: '<script>window.pwned=1</script><b>bold?</b>', fromMe: true, timestamp: now() - 3600, type: 'chat', hasMedia: false, ack: 1 }],
    },
    groups: {
      groups: [{ id: '120363000000000001@g.us', name: 'קבוצת עבודה', description: 'קבוצה לעבודה משותפת', participants: 15, owner: '972501234567@c.us', lastMessage: { body: 'הודעה אחרונה', timestamp: now() - 30, fromMe: false }, timestamp: now() - 30, unreadCount: 1, isReadOnly: false, type: 'group' }],
      channels: [{ id: '120363000000000002@newsletter', name: 'ערוץ חדשות', description: 'ערוץ לחדשות', lastMessage: { body: 'חדשות היום', timestamp: now() - 90, fromMe: false }, timestamp: now() - 90, unreadCount: 0, isReadOnly: true, type: 'channel' }],
      total: 2,
    },
    schedules: [],
    // The shape of GET /api/webhooks/:clientId/deliveries (docs/webhooks.md).
    deliveries: {
      pending: [],
      deadLetters: [{ eventId: 'evt_dead1', seq: 2, event: 'message_sent', state: 'dead', attempts: 4, createdAt: new Date().toISOString(), lastError: 'HTTP 500', payload: {} }],
      recentAttempts: [{ eventId: 'evt_ok1', seq: 1, event: 'message_received', attempt: 1, at: new Date().toISOString(), durationMs: 12, statusCode: 200, outcome: 'delivered' }],
    },
    sends: [],
    reads: [],
  };
}

function send(res, status, body, type) {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(status, { 'content-type': type || 'application/json; charset=utf-8', 'content-length': data.length });
  res.end(data);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function api(state, req, res, path, body) {
  const m = req.method;
  const authed = (req.headers.cookie || '').includes('chattu_session=' + state.session) && state.session;
  if (m === 'POST' && path === '/login') {
    if (body.username !== 'admin' || body.password !== 'mock-password') return send(res, 401, { error: 'Invalid credentials', code: 'AUTH_ERROR' });
    state.session = Math.random().toString(16).slice(2);
    res.setHeader('set-cookie', 'chattu_session=' + state.session + '; HttpOnly; SameSite=Strict; Path=/');
    return send(res, 200, { success: true });
  }
  if (!authed) return send(res, 401, { error: 'Login required', code: 'AUTH_ERROR' });
  let match;
  if (m === 'POST' && path === '/logout') return (state.session = null), send(res, 200, { success: true });
  if (m === 'GET' && path === '/api/profile') return send(res, 200, state.profile);
  if (m === 'GET' && path === '/api/clients') return send(res, 200, state.clients);
  if (m === 'POST' && path === '/api/add-number') {
    state.clients.push({ clientId: body.clientId, phoneNumber: body.phoneNumber, apiKey: 'k'.repeat(32), connectedNumber: 'Not Connected', status: 'Pending Authentication' });
    return send(res, 200, { status: 'pending_auth', message: 'QR Code generated for authentication', qrCode: 'data:image/png;base64,' + PNG.toString('base64'), apiKey: 'k'.repeat(32) });
  }
  if (m === 'GET' && (match = /^\/api\/qr\/([^/]+)$/.exec(path))) return send(res, 200, PNG, 'image/png');
  if (m === 'GET' && (match = /^\/api\/chats\/([^/]+)$/.exec(path))) return send(res, 200, { chats: state.chats });
  if (m === 'GET' && (match = /^\/api\/chats\/([^/]+)\/([^/]+)\/messages$/.exec(path))) return send(res, 200, { messages: state.messages[decodeURIComponent(match[2])] || [] });
  if (m === 'POST' && (match = /^\/api\/chats\/([^/]+)\/([^/]+)\/send$/.exec(path))) {
    const chatId = decodeURIComponent(match[2]);
    const msg = { id: { _serialized: 'S' + state.sends.length }, body: body.message, fromMe: true, timestamp: now(), type: 'chat', hasMedia: false, ack: 1 };
    state.sends.push({ chatId, message: body.message });
    (state.messages[chatId] = state.messages[chatId] || []).push(msg);
    return send(res, 200, { success: true, message: msg });
  }
  if (m === 'POST' && (match = /^\/api\/chats\/([^/]+)\/([^/]+)\/read$/.exec(path))) {
    const chatId = decodeURIComponent(match[2]);
    state.reads.push(chatId);
    for (const chat of state.chats) if (chat.id._serialized === chatId) chat.unreadCount = 0;
    return send(res, 200, { success: true });
  }
  if (m === 'GET' && /^\/api\/chats\/[^/]+\/media\/[^/]+$/.test(path)) return send(res, 200, PNG, 'image/png');
  if (m === 'GET' && /^\/api\/groups\/[^/]+$/.test(path)) return send(res, 200, state.groups);
  if (m === 'POST' && (match = /^\/api\/groups\/([^/]+)\/([^/]+)\/send$/.exec(path))) {
    state.sends.push({ chatId: decodeURIComponent(match[2]), message: body.message });
    return send(res, 200, { success: true, message: { id: { _serialized: 'G1' }, body: body.message, timestamp: now(), type: 'chat' } });
  }
  if (m === 'POST' && path === '/schedule-message') {
    const row = { id: state.schedules.length + 1, clientId: body.clientId, recipient: body.number, message: body.message, scheduleTime: body.scheduleTime, status: 'pending', createdAt: new Date().toISOString(), sentTime: null };
    state.schedules.push(row);
    return send(res, 200, { message: 'Scheduled.', id: row.id });
  }
  if (m === 'GET' && path === '/scheduled-messages') return send(res, 200, state.schedules);
  if (m === 'GET' && (match = /^\/api\/webhooks\/([^/]+)\/deliveries$/.exec(path))) return send(res, 200, { clientId: match[1], ...state.deliveries });
  if (m === 'POST' && (match = /^\/api\/webhooks\/[^/]+\/deliveries\/([^/]+)\/replay$/.exec(path))) {
    const d = state.deliveries;
    const dead = d.deadLetters.find((e) => e.eventId === decodeURIComponent(match[1]));
    if (!dead) return send(res, 404, { error: 'No such dead letter', code: 'NOT_FOUND' });
    d.deadLetters = d.deadLetters.filter((e) => e !== dead);
    const delivery = { ...dead, state: 'pending' };
    d.pending.push(delivery);
    return send(res, 200, { status: 'success', message: 'Event queued again.', delivery });
  }
  if (m === 'POST' && /^\/api\/webhooks\/[^/]+\/test$/.test(path)) return send(res, 200, { success: true });
  if (m === 'GET' && path === '/api/sent-messages') return send(res, 200, [{ id: 1, clientId: 'shop', senderNumber: '972501234567', recipient: '972521111111', message: 'Hi Dana, your order shipped', status: 'sent', sentAt: new Date().toISOString() }]);
  if (m === 'GET' && path === '/api/admin/users') return send(res, 200, [{ username: 'admin', role: 'admin', disabled: false, maxClients: 10, clientCount: state.clients.length, createdAt: new Date().toISOString() }, { username: 'יוסי', role: 'user', disabled: true, maxClients: 2, clientCount: 0 }]);
  if (m === 'GET' && path === '/api/admin/security-events') return send(res, 200, [{ kind: 'login_failed', ip: '192.0.2.7', username: 'admin', detail: 'wrong password', at: new Date().toISOString() }]);
  if (m === 'GET' && path === '/api/logs') return send(res, 200, { logs: [{ time: new Date().toISOString(), level: 'info', target: 'chattu::http', message: 'listening on 127.0.0.1' }] });
  return send(res, 404, { error: 'No such route', code: 'ROUTE_NOT_FOUND' });
}

export function startMockServer(port = 0) {
  const state = createState();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname;
    try {
      if (req.method === 'GET' && PAGES.has(path.replace(/\/+$/, '') || '/')) return send(res, 200, readFileSync(join(ASSETS, 'index.html')), TYPES['.html']);
      if (req.method === 'GET' && path.startsWith('/assets/')) {
        const file = normalize(join(ASSETS, path.slice('/assets/'.length)));
        if (!file.startsWith(ASSETS) || !existsSync(file)) return send(res, 404, { error: 'Not found', code: 'ROUTE_NOT_FOUND' });
        return send(res, 200, readFileSync(file), TYPES[extname(file)] || 'application/octet-stream');
      }
      const body = req.method === 'POST' || req.method === 'DELETE' ? await readJson(req) : {};
      return api(state, req, res, path, body);
    } catch (err) {
      return send(res, 500, { error: String(err), code: 'INTERNAL_ERROR' });
    }
  });
  // A minimal /ws: the RFC 6455 handshake and unmasked text frames out; incoming frames only answer close.
  const sockets = new Set();
  server.on('upgrade', (req, socket) => {
    const authed = state.session && (req.headers.cookie || '').includes('chattu_session=' + state.session);
    if (new URL(req.url, 'http://localhost').pathname !== '/ws' || !authed) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
    sockets.add(socket);
    socket.on('data', (data) => {
      if ((data[0] & 0x0f) === 8) socket.end(Buffer.from([0x88, 0x00]));
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
  });
  function push(event) {
    const payload = Buffer.from(JSON.stringify(event));
    const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]);
    for (const socket of sockets) socket.write(Buffer.concat([header, payload]));
    return sockets.size;
  }
  server.on('close', () => sockets.forEach((socket) => socket.destroy()));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, state, push, sockets, url: 'http://127.0.0.1:' + server.address().port })));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { url } = await startMockServer(Number(process.argv[2] || 0));
  console.log('listening on ' + url.replace('http://', ''));
}
