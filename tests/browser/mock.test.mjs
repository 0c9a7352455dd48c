// The dashboard's data-driven views (chats, media, reactions, acks, Hebrew, hostile text, read-only
// channels, webhook deliveries) in real Chromium against mock-server.mjs, until the real engine and
// simulator can produce such data:   node tests/browser/mock.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, watchConsole, screenshot, waitForPage, horizontalOverflow, DESKTOP, PHONE } from './lib.mjs';
import { startMockServer } from './mock-server.mjs';

let browser;
let mock;
let page;
let consoleLog;

before(async () => {
  mock = await startMockServer();
  browser = await launch();
  const context = await browser.newContext({ viewport: DESKTOP });
  page = await context.newPage();
  consoleLog = watchConsole(page, [/^\/api\/profile$/]);
  await page.goto(mock.url + '/login');
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'mock-password');
  await page.click('form button[type=submit]');
  await waitForPage(page, 'clients');
});

after(async () => {
  if (browser) await browser.close();
  if (mock) {
    mock.server.close();
    mock.sockets.forEach((socket) => socket.destroy());
  }
});

test('chat list and conversation: Hebrew auto-direction, media, reactions, ack ticks, mark as read', async () => {
  await page.goto(mock.url + '/chat');
  await waitForPage(page, 'chat');
  const row = page.locator('.chat-row', { hasText: 'דנה כהן' });
  assert.equal(await row.locator('.unread').textContent(), '2');
  assert.equal(await row.locator('.chat-name').getAttribute('dir'), 'auto');
  await row.click();
  await page.locator('.msg[data-id="M3"]').waitFor();
  assert.equal(await page.locator('.msg[data-id="M3"] .msg-body').getAttribute('dir'), 'auto');
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.msg[data-id="M3"] .msg-body')).direction), 'rtl');
  await page.waitForFunction(() => document.querySelector('.msg[data-id="M2"] img.media')?.naturalWidth === 1);
  assert.equal(await page.locator('.msg[data-id="M1"] .reaction').textContent(), '👍');
  assert.equal(await page.locator('.msg[data-id="M1"] .ack').getAttribute('aria-label'), 'read');
  await page.waitForFunction(() => !document.querySelector('.chat-row.active .unread'));
  assert.deepEqual(mock.state.reads, ['972521111111@c.us']);
  await screenshot(page, 'mock-chat-desktop');
  await page.setViewportSize(PHONE);
  await screenshot(page, 'mock-chat-phone');
  assert.ok((await horizontalOverflow(page)) <= 1);
  await page.setViewportSize(DESKTOP);
  assert.deepEqual(consoleLog.errors.splice(0), []);
});

test('sending from the conversation posts to the chat route and shows the message', async () => {
  await page.fill('#compose', 'מעולה, תודה!');
  await page.keyboard.press('Enter');
  await page.locator('.msg.from-me', { hasText: 'מעולה, תודה!' }).waitFor();
  assert.deepEqual(mock.state.sends.at(-1), { chatId: '972521111111@c.us', message: 'מעולה, תודה!' });
});

test('hostile names and bodies are shown as text, never run', async () => {
  await page.locator('.chat-row', { hasText: '<img src=x onerror=alert(1)>' }).click();
  await page.locator('.msg[data-id="X1"]').waitFor();
  assert.equal(await page.textContent('.msg[data-id="X1"] .msg-body'), '<script>window.pwned=1</script><b>bold?</b>');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await page.locator('.chat-list img, .messages b, .messages script').count(), 0);
});

test('groups and channels: read-only channels cannot be sent to', async () => {
  await page.goto(mock.url + '/groups');
  await waitForPage(page, 'groups');
  await page.locator('.chat-row', { hasText: 'ערוץ חדשות' }).click();
  await page.locator('.conversation').waitFor();
  assert.ok(await page.isDisabled('#compose'));
  assert.ok(await page.isDisabled('.composer button[type=submit]'));
  await page.locator('.chat-row', { hasText: 'קבוצת עבודה' }).click();
  await page.waitForFunction(() => !document.querySelector('#compose').disabled);
  await page.fill('#compose', 'שלום לכולם');
  await page.click('.composer button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#compose').value === '');
  assert.deepEqual(mock.state.sends.at(-1), { chatId: '120363000000000001@g.us', message: 'שלום לכולם' });
  await screenshot(page, 'mock-groups-desktop');
  await page.setViewportSize(PHONE);
  await screenshot(page, 'mock-groups-phone');
  await page.setViewportSize(DESKTOP);
  assert.deepEqual(consoleLog.errors.splice(0), []);
});

test('clients: QR after adding a number, webhook deliveries with replay', async () => {
  await page.goto(mock.url + '/clients');
  await waitForPage(page, 'clients');
  await page.fill('#add-client-id', 'new-shop');
  await page.fill('#add-phone', '972502222222');
  await page.click('.add-form button[type=submit]');
  const card = page.locator('article[data-client="new-shop"]');
  await card.locator('img.qr:not([hidden])').waitFor();
  assert.equal(await card.locator('.badge').textContent(), 'Pending Authentication');
  const shop = page.locator('article[data-client="shop"]');
  assert.equal(await shop.locator('input[type=url]').inputValue(), 'https://hooks.example.com/in');
  await shop.locator('summary', { hasText: 'Recent deliveries' }).click();
  await shop.locator('td', { hasText: 'message_received' }).waitFor();
  const attempt = shop.locator('.deliveries tr', { hasText: 'message_received' });
  assert.match(await attempt.locator('.badge').textContent(), /delivered · 200/);
  // The dead letter has a Replay button; replaying puts it back in the queue.
  const dead = shop.locator('.deliveries tr', { hasText: 'message_sent' });
  assert.match(await dead.locator('.badge').textContent(), /dead/);
  await dead.locator('button', { hasText: 'Replay' }).click();
  await shop.locator('.deliveries tr', { hasText: 'message_sent' }).locator('.badge', { hasText: 'pending' }).waitFor();
  await screenshot(page, 'mock-clients-desktop');
  await page.setViewportSize(PHONE);
  await screenshot(page, 'mock-clients-phone');
  await page.setViewportSize(DESKTOP);
  assert.deepEqual(consoleLog.errors.splice(0), []);
});

test('over /ws, a client turns connected and a new message appears without a reload', async () => {
  await page.goto(mock.url + '/clients');
  await waitForPage(page, 'clients');
  await page.locator('#live-state.live').waitFor();
  await page.evaluate(() => (window.sameDocument = true));
  const card = page.locator('article[data-client="new-shop"]');
  assert.equal(await card.locator('.badge').textContent(), 'Pending Authentication');
  const client = mock.state.clients.find((c) => c.clientId === 'new-shop');
  Object.assign(client, { status: 'Authenticated', connectedNumber: '972502222222@c.us' });
  assert.equal(mock.push({ type: 'client_status', clientId: 'new-shop', status: 'Authenticated' }), 1);
  await card.locator('.badge', { hasText: 'Authenticated' }).waitFor();
  assert.ok(await card.locator('.qr-box').isHidden(), 'the QR goes away once linked');

  await page.goto(mock.url + '/chat?client=shop&chat=972521111111@c.us');
  await waitForPage(page, 'chat');
  await page.locator('#live-state.live').waitFor();
  await page.locator('.msg[data-id="M3"]').waitFor();
  await page.evaluate(() => (window.sameDocument = true));
  mock.state.messages['972521111111@c.us'].push({ id: { _serialized: 'LIVE1' }, body: 'תשובה חיה', fromMe: false, timestamp: Math.floor(Date.now() / 1000), type: 'chat', hasMedia: false, ack: 0 });
  mock.push({ type: 'message', clientId: 'shop', chatId: '972521111111@c.us' });
  await page.locator('.msg[data-id="LIVE1"]', { hasText: 'תשובה חיה' }).waitFor({ timeout: 3000 });
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload happened');
  assert.deepEqual(consoleLog.errors.splice(0), []);
});

test('after login only a same-site path is followed', async () => {
  await page.click('#logout');
  await page.waitForSelector('#login-username');
  await page.goto(mock.url + '/login?next=' + encodeURIComponent('/\\evil.example/x'));
  await page.fill('#login-username', 'admin');
  await page.fill('#login-password', 'mock-password');
  await page.click('form button[type=submit]');
  await waitForPage(page, 'clients');
  assert.equal(new URL(page.url()).origin, mock.url);
  assert.equal(new URL(page.url()).pathname, '/clients');
});
