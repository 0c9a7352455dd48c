// Shared helpers for the dashboard's browser tests: launching Debian's chromium through playwright-core,
// collecting console errors, and writing screenshots under target/screenshots/.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHATTU_CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = process.env.CHATTU_SCREENSHOTS || fileURLToPath(new URL('../../target/screenshots/', import.meta.url));
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const PAGES = [
  ['clients', '/clients'],
  ['chat', '/chat'],
  ['groups', '/groups'],
  ['scheduled', '/scheduled'],
  ['logs', '/logs'],
  ['profile', '/profile'],
  ['admin', '/admin'],
  ['docs', '/docs'],
];

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(CHROMIUM + ' is missing: run the install step of .ci/run (apt-get install -y chromium)');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    throw new Error('playwright-core is missing: run the install step of .ci/run (npm ci in tests/browser)');
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Records uncaught exceptions and console errors. A failed load of one of `pendingRoutes` (routes the
// server does not have yet: the dashboard probes them and degrades) is recorded as pending, not an error.
export function watchConsole(page, pendingRoutes) {
  const log = { errors: [], pending: [] };
  page.on('pageerror', (err) => log.errors.push('uncaught: ' + err.message));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // A refused WebSocket handshake names its URL in the text; failed loads carry it as the location.
    const socket = /^WebSocket connection to '([^']+)' failed/.exec(msg.text());
    const url = socket ? socket[1] : (msg.location() && msg.location().url) || '';
    const path = url ? new URL(url).pathname : '';
    if ((socket || msg.text().startsWith('Failed to load resource')) && pendingRoutes.some((re) => re.test(path))) {
      log.pending.push(path + ': ' + msg.text());
      return;
    }
    log.errors.push(msg.text() + (url ? ' (' + url + ')' : ''));
  });
  return log;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, name + '.png');
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// The page has drawn: its main element names it and no "Loading…" placeholder is left.
export async function waitForPage(page, name) {
  await page.waitForSelector('main[data-page="' + name + '"] .page-head h1', { timeout: 15000 });
  await page.waitForFunction(() => ![...document.querySelectorAll('main p')].some((p) => p.textContent === 'Loading…'), null, { timeout: 15000 });
}

// No element sticks out sideways at this width (the phone layout must not scroll horizontally).
export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

// The wall-clock fields of an instant in a zone, as 'YYYY-MM-DDTHH:MM' for a datetime-local input.
export function wallTime(utcMs, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(new Date(utcMs))
      .map((p) => [p.type, p.value])
  );
  return parts.year + '-' + parts.month + '-' + parts.day + 'T' + (parts.hour === '24' ? '00' : parts.hour) + ':' + parts.minute;
}
