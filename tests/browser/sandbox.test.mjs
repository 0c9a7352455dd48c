// The live dashboard in real Chromium against `chattu serve --sandbox`: a simulated phone links the client
// from the QR code the UI shows, the status badge turns connected over /ws, and a conversation with a second
// simulated phone runs both ways without a reload.
//   CHATTU_ADMIN_PASSWORD=... node tests/browser/sandbox.test.mjs http://127.0.0.1:PORT
// tests/browser_dashboard.rs starts the binary with --sandbox and runs this. Screenshots go to target/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, watchConsole, screenshot, waitForPage, horizontalOverflow, wallTime, DESKTOP, PHONE } from './lib.mjs';

const BASE = (process.argv[2] || process.env.CHATTU_BASE_URL || '').replace(/\/+$/, '');
const USER = process.env.CHATTU_ADMIN_USER || 'admin';
const PASSWORD = process.env.CHATTU_ADMIN_PASSWORD || '';
const CLIENT_ID = 'sandbox-' + process.pid;
// The phone that links the client (its number becomes the client's) and a contact that chats with it.
const SUFFIX = String(process.pid % 100000).padStart(5, '0');
const OWNER = '15550' + SUFFIX;
const CONTACT = '15551' + SUFFIX;
const CHAT_ID = CONTACT + '@c.us';

let browser;
let context;
let page;
let consoleLog;
// Every text frame the page received on /ws, parsed.
const frames = [];

before(async () => {
  assert.ok(BASE.startsWith('http'), 'pass the sandbox server base URL as the first argument');
  assert.ok(PASSWORD, 'set CHATTU_ADMIN_PASSWORD to the admin password the server was started with');
  const health = await (await fetch(BASE + '/healthz')).json();
  assert.equal(health.sandbox, true, 'the server must run with --sandbox');
  browser = await launch();
  context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'America/New_York', locale: 'en-US' });
  page = await context.newPage();
  consoleLog = watchConsole(page, []);
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).pathname !== '/ws') return;
    ws.on('framereceived', (frame) => {
      try {
        frames.push(JSON.parse(String(frame.payload)));
      } catch (err) {
        frames.push({ type: 'unparsable', raw: String(frame.payload) });
      }
    });
  });
});

after(async () => {
  if (browser) await browser.close();
});

function assertNoConsoleErrors(where) {
  const errors = consoleLog.errors.splice(0);
  assert.deepEqual(errors, [], 'console errors on ' + where);
}

// The simulator's control API, from the test's side (no credentials, as documented in docs/sandbox.md).
async function sim(method, path, body) {
  const response = await fetch(BASE + '/sim' + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    json = text;
  }
  assert.ok(response.ok, method + ' /sim' + path + ' answered ' + response.status + ': ' + text);
  return json;
}

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail('timed out after ' + timeoutMs + ' ms waiting for ' + what);
}

async function liveStream() {
  await page.waitForFunction(() => window.Chattu && window.Chattu.live && window.Chattu.live.mode === 'live', null, { timeout: 15000 });
}

test('log in', async () => {
  await page.goto(BASE + '/clients');
  await page.waitForSelector('#login-username');
  await page.fill('#login-username', USER);
  await page.fill('#login-password', PASSWORD);
  await page.click('form button[type=submit]');
  await waitForPage(page, 'clients');
  // The anonymous visit's session probe is refused before the login page shows.
  consoleLog.errors = consoleLog.errors.filter((e) => !/status of 401 .*\/api\/profile\)$/.test(e));
  assertNoConsoleErrors('login');
});

test('a number added in the UI shows its QR code and turns connected over /ws when the phone scans it', async () => {
  await sim('POST', '/phones', { phone: OWNER, name: 'Owner' });
  await sim('POST', '/phones', { phone: CONTACT, name: 'Contact' });
  await liveStream();
  await page.fill('#add-client-id', CLIENT_ID);
  await page.fill('#add-phone', OWNER);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/add-number')),
    page.click('.add-form button[type=submit]'),
  ]);
  const added = await response.json().catch(() => ({}));
  assert.equal(response.status(), 200, 'POST /api/add-number: ' + JSON.stringify(added));
  assert.equal(added.status, 'pending_auth', 'a new sandbox client awaits its scan');
  assert.ok(typeof added.qrText === 'string' && added.qrText.length > 0, 'sandbox mode hands out qrText');

  const card = page.locator('article[data-client="' + CLIENT_ID + '"]');
  await card.waitFor();
  await card.locator('img.qr:not([hidden])').waitFor();
  assert.match(await card.locator('img.qr').getAttribute('src'), /^(data:image\/png|blob:)/);
  assert.ok(await card.locator('img.qr').evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR image decodes');
  assert.equal(await card.locator('.badge').getAttribute('data-status'), 'Pending Authentication');
  await screenshot(page, 'sandbox-client-qr-desktop');

  // The page must not reload: a marker on window survives only in the same document.
  await page.evaluate(() => (window.__sandboxMarker = 'same-document'));
  await liveStream();
  // Fetch the text again right before scanning: the QR rotates, and GET /api/qr/:id names the current one.
  const qrResponse = await page.request.get(BASE + '/api/qr/' + CLIENT_ID);
  const qrText = qrResponse.headers()['x-chattu-qr-text'] || added.qrText;
  const linked = await sim('POST', '/phones/' + OWNER + '/scan', { qr: qrText });
  assert.match(linked.jid, new RegExp('^' + OWNER + ':\\d+@s\\.whatsapp\\.net$'));

  await card.locator('.badge.badge-ok').waitFor({ timeout: 15000 });
  assert.equal(await card.locator('.badge').getAttribute('data-status'), 'Authenticated');
  assert.equal(await page.evaluate(() => window.__sandboxMarker), 'same-document', 'the page was not reloaded');
  assert.ok(
    frames.some((f) => f.type === 'client_status' && f.clientId === CLIENT_ID && f.status === 'Authenticated'),
    'the Authenticated status arrived over /ws; frames: ' + JSON.stringify(frames.map((f) => f.type))
  );
  await card.locator('text=Connected as ' + OWNER).waitFor({ timeout: 10000 });
  assert.ok(await card.locator('.qr-box').isHidden(), 'the QR box goes away once linked');

  await card.scrollIntoViewIfNeeded();
  await screenshot(page, 'sandbox-client-connected-desktop');
  await page.setViewportSize(PHONE);
  await card.scrollIntoViewIfNeeded();
  await screenshot(page, 'sandbox-client-connected-phone');
  assert.ok((await horizontalOverflow(page)) <= 1, 'clients scrolls sideways at phone width');
  await page.setViewportSize(DESKTOP);
  assertNoConsoleErrors('clients (linking)');
});

test('a message sent from the chat page reaches the phone, and its reply appears live', async () => {
  await page.goto(BASE + '/chat?client=' + encodeURIComponent(CLIENT_ID) + '&chat=' + encodeURIComponent(CHAT_ID));
  await waitForPage(page, 'chat');
  await page.locator('#compose').waitFor();
  await liveStream();

  const outgoing = 'hello from the dashboard ' + process.pid + ' שלום';
  await page.fill('#compose', outgoing);
  const [sent] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/send') && r.request().method() === 'POST'),
    page.click('form.composer button[type=submit]'),
  ]);
  assert.equal(sent.status(), 200, 'POST .../send: ' + (await sent.text()));
  await page.locator('li.msg.from-me', { hasText: outgoing }).waitFor({ timeout: 10000 });

  const received = await waitFor(
    'the contact phone to receive the message',
    async () => {
      const inbox = await sim('GET', '/phones/' + CONTACT + '/messages');
      return (inbox.received || []).find((m) => m.text === outgoing);
    },
    20000
  );
  assert.match(String(received.from), new RegExp('^' + OWNER));

  await page.evaluate(() => (window.__sandboxMarker = 'same-document'));
  const reply = 'reply from the phone ' + process.pid + ' 👋';
  await sim('POST', '/phones/' + CONTACT + '/messages', { to: OWNER, text: reply });
  const bubble = page.locator('li.msg.from-them', { hasText: reply });
  await bubble.waitFor({ timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__sandboxMarker), 'same-document', 'the page was not reloaded');
  assert.ok(
    frames.some((f) => f.type === 'message' && f.clientId === CLIENT_ID && !f.fromMe && f.body === reply),
    'the reply arrived over /ws'
  );
  // The reply follows the message sent from the UI in the open conversation.
  const bodies = await page.locator('ol.messages li.msg .msg-body').allTextContents();
  assert.ok(bodies.indexOf(outgoing) >= 0 && bodies.indexOf(outgoing) < bodies.indexOf(reply), 'order: ' + JSON.stringify(bodies));
  // The chat list shows the conversation with the reply as its last message.
  await page.locator('.chat-list .chat-row', { hasText: reply }).first().waitFor({ timeout: 10000 });

  await screenshot(page, 'sandbox-chat-live-desktop');
  await page.setViewportSize(PHONE);
  await bubble.scrollIntoViewIfNeeded();
  await screenshot(page, 'sandbox-chat-live-phone');
  assert.ok((await horizontalOverflow(page)) <= 1, 'chat scrolls sideways at phone width');
  await page.setViewportSize(DESKTOP);
  assertNoConsoleErrors('chat (live)');
});

test('a message scheduled one minute ahead in Asia/Jerusalem is stored as the right UTC instant', async () => {
  await page.goto(BASE + '/scheduled');
  await waitForPage(page, 'scheduled');
  await page.selectOption('#sched-zone', 'Asia/Jerusalem');
  await page.selectOption('#sched-client', CLIENT_ID);
  const target = Math.ceil((Date.now() + 60000) / 60000) * 60000;
  await page.fill('#sched-when', wallTime(target, 'Asia/Jerusalem'));
  await page.fill('#sched-number', CONTACT);
  const text = 'sandbox scheduled ' + process.pid;
  await page.fill('#sched-message', text);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/schedule-message')),
    page.click('form[aria-labelledby=sched-title] button[type=submit]'),
  ]);
  assert.ok(response.ok(), 'POST /schedule-message: ' + response.status() + ' ' + (await response.text()));
  const stored = await (await page.request.get(BASE + '/scheduled-messages')).json();
  const rows = Array.isArray(stored) ? stored : stored.scheduled || stored.messages || [];
  const row = rows.find((r) => r.message === text);
  assert.ok(row, 'GET /scheduled-messages lists the new message');
  assert.equal(new Date(row.scheduleTime).getTime(), target, 'stored ' + row.scheduleTime + ', expected ' + new Date(target).toISOString());
  assertNoConsoleErrors('scheduled');
});
