// The dashboard in real Chromium against a running chattu server:
//   CHATTU_ADMIN_PASSWORD=... node tests/browser/dashboard.test.mjs http://127.0.0.1:PORT
// tests/browser_dashboard.rs starts the binary and runs this. Screenshots go to target/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, watchConsole, screenshot, waitForPage, horizontalOverflow, wallTime, PAGES, DESKTOP, PHONE } from './lib.mjs';

const BASE = (process.argv[2] || process.env.CHATTU_BASE_URL || '').replace(/\/+$/, '');
const USER = process.env.CHATTU_ADMIN_USER || 'admin';
const PASSWORD = process.env.CHATTU_ADMIN_PASSWORD || '';
// Routes the dashboard may probe before the server has them (the engine, /ws and the delivery log land later).
const PENDING = [/^\/ws$/, /^\/api\/qr\//, /^\/api\/chats\//, /^\/api\/groups\//, /^\/api\/webhooks\//, /^\/api\/received-messages\//, /^\/api\/incoming-calls\//];
const CLIENT_ID = 'browser-' + process.pid;

let browser;
let context;
let page;
let consoleLog;

before(async () => {
  assert.ok(BASE.startsWith('http'), 'pass the server base URL as the first argument');
  assert.ok(PASSWORD, 'set CHATTU_ADMIN_PASSWORD to the admin password the server was started with');
  browser = await launch();
  // The browser's zone differs from the one the test schedules in, so the conversion cannot lean on it.
  context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'America/New_York', locale: 'en-US' });
  page = await context.newPage();
  consoleLog = watchConsole(page, PENDING);
});

after(async () => {
  if (consoleLog && consoleLog.pending.length) console.log('# routes not on this server yet:\n#   ' + [...new Set(consoleLog.pending)].join('\n#   '));
  if (browser) await browser.close();
});

function assertNoConsoleErrors(where) {
  const errors = consoleLog.errors.splice(0);
  assert.deepEqual(errors, [], 'console errors on ' + where);
}

test('an anonymous visit lands on the login page; a wrong password is refused', async () => {
  await page.goto(BASE + '/scheduled');
  await page.waitForSelector('#login-username');
  assert.match(page.url(), /\/login\?next=%2Fscheduled$/);
  await screenshot(page, 'login-desktop');
  await page.setViewportSize(PHONE);
  await screenshot(page, 'login-phone');
  await page.setViewportSize(DESKTOP);
  await page.fill('#login-username', USER);
  await page.fill('#login-password', 'not-the-password');
  await page.click('form button[type=submit]');
  await page.waitForSelector('.login-card [role=alert]:not([hidden])');
  assert.equal(await page.textContent('.login-card [role=alert]'), 'Wrong username or password.');
  consoleLog.errors = consoleLog.errors.filter((e) => !/status of 401/.test(e));
  assertNoConsoleErrors('login');
});

test('logging in returns to the page asked for and shows the user', async () => {
  await page.fill('#login-password', PASSWORD);
  await page.click('form button[type=submit]');
  await waitForPage(page, 'scheduled');
  assert.match(page.url(), /\/scheduled$/);
  assert.match(await page.textContent('#whoami'), new RegExp('^' + USER));
  assert.ok(await page.isVisible('#nav a[href="/admin"]'), 'the admin sees the Admin page');
  assertNoConsoleErrors('after login');
});

test('adding a number shows the client with its status', async () => {
  await page.goto(BASE + '/clients');
  await waitForPage(page, 'clients');
  await page.fill('#add-client-id', CLIENT_ID);
  await page.fill('#add-phone', '972501234567');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/add-number')),
    page.click('.add-form button[type=submit]'),
  ]);
  const body = await response.json().catch(() => ({}));
  assert.equal(response.status(), 200, 'POST /api/add-number: ' + JSON.stringify(body));
  assert.ok(['pending_auth', 'connected'].includes(body.status), 'documented status, got ' + body.status);
  const card = page.locator('article[data-client="' + CLIENT_ID + '"]');
  await card.waitFor();
  assert.ok((await card.locator('.badge').textContent()).length > 0, 'a status badge is shown');
  // The documented contract: a QR image while pending (once the engine produces one), none when connected.
  if (body.status === 'pending_auth' && body.qrCode) {
    await card.locator('img.qr').waitFor();
    assert.match(await card.locator('img.qr').getAttribute('src'), /^(data:image\/png|blob:)/);
  }
  const listed = await (await page.request.get(BASE + '/api/clients')).json();
  assert.ok(listed.some((c) => c.clientId === CLIENT_ID), 'GET /api/clients lists the new client');
  assertNoConsoleErrors('clients');
});

test('the webhook URL is saved from the client card', async () => {
  const card = page.locator('article[data-client="' + CLIENT_ID + '"]');
  const url = 'http://127.0.0.1:9/chattu-hook-' + process.pid;
  await card.locator('input[type=url]').fill(url);
  await card.locator('.webhook button[type=submit]').click();
  await page.locator('.toast', { hasText: 'Webhook saved for ' + CLIENT_ID }).waitFor();
  const listed = await (await page.request.get(BASE + '/api/clients')).json();
  assert.equal(listed.find((c) => c.clientId === CLIENT_ID).webhookUrl, url);
  await page.reload();
  await waitForPage(page, 'clients');
  assert.equal(await card.locator('input[type=url]').inputValue(), url);
  assertNoConsoleErrors('clients (webhook)');
});

test('assets are served compressed, with content-hash caching and 304s', async () => {
  const shell = await page.request.get(BASE + '/chat', { headers: { 'accept-encoding': 'gzip' } });
  const headers = shell.headers();
  assert.equal(headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(headers['cache-control'], 'no-cache');
  assert.equal(headers['content-encoding'], 'gzip');
  const html = await shell.text();
  const css = /"(\/assets\/app\.css\?v=[0-9a-f]{16})"/.exec(html);
  assert.ok(css, 'the shell references the stylesheet by content hash');
  const asset = await page.request.get(BASE + css[1], { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(asset.headers()['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(asset.headers()['content-type'], 'text/css; charset=utf-8');
  const again = await page.request.get(BASE + '/chat', { headers: { 'accept-encoding': 'gzip', 'if-none-match': headers.etag } });
  assert.equal(again.status(), 304);
});

test('a message scheduled one minute ahead in Asia/Jerusalem is stored as the right UTC instant', async () => {
  await page.goto(BASE + '/scheduled');
  await waitForPage(page, 'scheduled');
  await page.selectOption('#sched-zone', 'Asia/Jerusalem');
  await page.selectOption('#sched-client', CLIENT_ID);
  // One minute ahead, on a whole minute (the input has minute precision).
  const target = Math.ceil((Date.now() + 60000) / 60000) * 60000;
  await page.fill('#sched-when', wallTime(target, 'Asia/Jerusalem'));
  await page.fill('#sched-number', '972509999999');
  const text = 'browser test ' + process.pid + ' שלום';
  await page.fill('#sched-message', text);
  const expected = new Date(target).toISOString().replace('.000Z', 'Z');
  assert.match(await page.textContent('#sched-preview'), new RegExp(expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/schedule-message')),
    page.click('form[aria-labelledby=sched-title] button[type=submit]'),
  ]);
  assert.ok(response.ok(), 'POST /schedule-message: ' + response.status() + ' ' + (await response.text()));
  const stored = await (await page.request.get(BASE + '/scheduled-messages')).json();
  const rows = Array.isArray(stored) ? stored : stored.scheduled || stored.messages || [];
  const row = rows.find((r) => r.message === text);
  assert.ok(row, 'GET /scheduled-messages lists the new message');
  assert.equal(new Date(row.scheduleTime).getTime(), target, 'stored ' + row.scheduleTime + ', expected ' + expected);
  await page.locator('td', { hasText: text }).first().waitFor();
  assertNoConsoleErrors('scheduled');
});

test('every page renders without console errors, at desktop and phone width', async () => {
  for (const [name, path] of PAGES) {
    await page.setViewportSize(DESKTOP);
    await page.goto(BASE + path);
    await waitForPage(page, name);
    await page.waitForLoadState('networkidle').catch(() => {});
    for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(size);
      await screenshot(page, name + '-' + label);
      if (label === 'phone') assert.ok((await horizontalOverflow(page)) <= 1, name + ' scrolls sideways at phone width');
      assertNoConsoleErrors(name + ' (' + label + ')');
    }
  }
  await page.setViewportSize(DESKTOP);
});

test('the API docs search jumps to an endpoint with Ctrl+K', async () => {
  await page.goto(BASE + '/docs');
  await waitForPage(page, 'docs');
  await page.keyboard.press('Control+K');
  await page.waitForSelector('#docs-search');
  await page.keyboard.type('media message');
  const first = page.locator('#docs-results li').first();
  assert.match(await first.textContent(), /\/api\/chats\/:clientId\/media\/:messageId/);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash === '#get-api-chats-clientid-media-messageid');
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'get-api-chats-clientid-media-messageid');
  // Click-to-copy on an example.
  await page.locator('#post-api-add-number pre.code').first().click();
  await page.locator('.toast', { hasText: 'Example copied' }).waitFor();
  await screenshot(page, 'docs-search-desktop');
  assertNoConsoleErrors('docs');
});

test('the profile reveals the API key the API reports', async () => {
  await page.goto(BASE + '/profile');
  await waitForPage(page, 'profile');
  const profile = await (await page.request.get(BASE + '/api/profile')).json();
  assert.notEqual(await page.textContent('#api-key'), profile.apiKey, 'masked until revealed');
  await page.click('button[aria-controls=api-key]');
  assert.equal(await page.textContent('#api-key'), profile.apiKey);
  assertNoConsoleErrors('profile');
});

test('a pending scheduled message can be cancelled from the list', async () => {
  await page.goto(BASE + '/scheduled');
  await waitForPage(page, 'scheduled');
  const row = page.locator('tr', { hasText: 'browser test ' + process.pid });
  await row.locator('button', { hasText: 'Cancel' }).click();
  await row.locator('.badge', { hasText: 'cancelled' }).waitFor();
  const stored = await (await page.request.get(BASE + '/scheduled-messages')).json();
  const rows = Array.isArray(stored) ? stored : stored.scheduled || stored.messages || [];
  assert.equal(rows.find((r) => String(r.message).startsWith('browser test ' + process.pid)).status, 'cancelled');
  assertNoConsoleErrors('scheduled (cancel)');
});

test('every log tab loads', async () => {
  await page.goto(BASE + '/logs');
  await waitForPage(page, 'logs');
  for (const tab of ['sent', 'received', 'calls', 'app']) {
    await page.click('#tab-' + tab);
    await page.waitForFunction((t) => document.querySelector('#tab-' + t).getAttribute('aria-selected') === 'true' && !document.querySelector('#log-panel').textContent.startsWith('Loading'), tab);
    assert.equal(await page.locator('#log-panel .notice').count(), 0, tab + ' tab shows a notice: ' + (await page.textContent('#log-panel')).slice(0, 200));
  }
  await screenshot(page, 'logs-application-desktop');
  assertNoConsoleErrors('logs');
});

test('an admin creates a user, changes the plan and disables the user', async () => {
  const name = 'user' + process.pid;
  await page.goto(BASE + '/admin');
  await waitForPage(page, 'admin');
  await page.fill('#new-user', name);
  await page.fill('#new-password', 'a-long-password-' + process.pid);
  await page.click('form[aria-labelledby=new-user-title] button[type=submit]');
  const row = page.locator('tr', { has: page.locator('td', { hasText: new RegExp('^' + name + '$') }) });
  await row.waitFor();
  await row.locator('button', { hasText: 'Plan' }).click();
  await page.fill('#dlg-maxClients', '3');
  await page.click('dialog button[type=submit]');
  await row.locator('td', { hasText: '/ 3' }).waitFor();
  await row.locator('button', { hasText: 'Disable' }).click();
  await row.locator('.badge', { hasText: 'disabled' }).waitFor();
  await screenshot(page, 'admin-users-desktop');
  assertNoConsoleErrors('admin');
});

test('deleting a client asks for the password', async () => {
  await page.goto(BASE + '/clients');
  await waitForPage(page, 'clients');
  const card = page.locator('article[data-client="' + CLIENT_ID + '"]');
  await card.locator('button', { hasText: 'Delete' }).click();
  await page.fill('#dlg-password', 'wrong-password');
  await page.click('dialog button[type=submit]');
  await page.locator('.toast.error').first().waitFor();
  assert.ok(await card.isVisible(), 'a wrong password keeps the client');
  await card.locator('button', { hasText: 'Delete' }).click();
  await page.fill('#dlg-password', PASSWORD);
  await page.click('dialog button[type=submit]');
  await card.waitFor({ state: 'detached' });
  const listed = await (await page.request.get(BASE + '/api/clients')).json();
  assert.ok(!listed.some((c) => c.clientId === CLIENT_ID));
  consoleLog.errors = consoleLog.errors.filter((e) => !/status of 403/.test(e));
  assertNoConsoleErrors('clients (delete)');
});

test('logging out returns to the login page and the API refuses the old session', async () => {
  await page.click('#logout');
  await page.waitForSelector('#login-username');
  const response = await page.request.get(BASE + '/api/profile');
  assert.equal(response.status(), 401);
});
