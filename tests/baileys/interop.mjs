// A real, unmodified Baileys client against Chattu's WhatsApp simulator.
//
//   node tests/baileys/interop.mjs <ws url> <control url>
//
// The simulator is driven only through its public surfaces: the WebSocket endpoint Baileys connects to
// (`waWebSocketUrl`) and the control API under /sim/ (docs/simulator.md). Every step prints one JSON line
// on stdout (`{"step": ..., "ok": true|false, ...}`), the last one is `{"step": "done", ...}`; the exit code
// is 0 only when every step passed. tests/sim_baileys.rs runs this script and checks the lines.
//
// Steps: create the account's phone and a peer phone → Baileys connects and shows a QR (from the
// simulator's pair-device refs) → the account's phone scans it → pair-success, pair-device-sign → the
// server restarts the stream (515) → Baileys reconnects and logs in (`connection: 'open'`, creds.me set)
// → Baileys sends a text to the peer phone, which must receive it decrypted → the peer phone sends a text
// back, which Baileys must receive decrypted; Baileys' delivery receipt must reach
// the phone (and with `--read-receipt`, once Baileys marks the text read, its read receipt).
// `--app-state` (after the login, instead of the text exchange): Baileys must receive the phone's app state
// key (APP_STATE_SYNC_KEY_SHARE), then the phone mutes and pins the peer's chat
// (`POST /sim/phones/{phone}/app-state/chats/{chat}`); Baileys fetches and checks the syncd patches
// itself and must emit the `chats.update` with the mute end and the pin; then Baileys unpins the chat
// (`chatModify`), uploading its own patch, which the phone must accept.
// `--pairing-only` stops after the login. `--by-code` links
// by phone code instead of QR: Baileys asks for a code (`requestPairingCode`) and the phone types it
// (`POST /sim/phones/{phone}/link-code`).
//
// Loopback only: the WhatsApp Web version is passed explicitly (nothing fetches the latest one), link
// previews and history sync are off.

import { makeWASocket, DisconnectReason, Browsers } from '@whiskeysockets/baileys'
import pino from 'pino'
import { WA_VERSION, PATIENCE_MS, memoryAuthState, controlClient } from './harness.mjs'

const ACCOUNT_PHONE = '15550001111'
const PEER_PHONE = '15550002222'

const args = process.argv.slice(2)
const pairingOnly = args.includes('--pairing-only')
const byCode = args.includes('--by-code')
const readReceipt = args.includes('--read-receipt')
const appState = args.includes('--app-state')
const [wsUrl, controlUrl] = args.filter((a) => !a.startsWith('--'))
if (!wsUrl || !controlUrl) {
  console.error('usage: node interop.mjs <ws url> <control url> [--pairing-only] [--by-code] [--read-receipt]')
  process.exit(2)
}

// BAILEYS_LOG=trace shows every stanza Baileys sends and receives (on stderr), for finding gaps.
const logger = pino({ level: process.env.BAILEYS_LOG || 'silent' }, pino.destination(2))

let failed = false
function report(step, ok, details = {}) {
  if (!ok) failed = true
  process.stdout.write(JSON.stringify({ step, ok, ...details }) + '\n')
}

/** One control API call; resolves to { status, body }. */
const control = controlClient(controlUrl)

/** Resolves with the first value `probe` returns that is not undefined, or rejects after PATIENCE_MS. */
function waitFor(what, subscribe) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe?.()
      reject(new Error(`timed out after ${PATIENCE_MS} ms waiting for ${what}`))
    }, PATIENCE_MS)
    const unsubscribe = subscribe((value) => {
      clearTimeout(timer)
      unsubscribe?.()
      resolve(value)
    })
  })
}

const auth = memoryAuthState()
let socket
/** Latest `connection.update` listeners fan out to whoever is waiting (the socket is recreated on 515). */
const connectionWaiters = new Set()
const messageWaiters = new Set()
const chatUpdateWaiters = new Set()
const closes = []

function connect() {
  socket = makeWASocket({
    waWebSocketUrl: wsUrl,
    auth: auth,
    version: WA_VERSION,
    browser: Browsers.ubuntu('Chrome'),
    logger,
    printQRInTerminal: false,
    generateHighQualityLinkPreview: false,
    syncFullHistory: false,
    shouldSyncHistoryMessage: () => false,
    markOnlineOnConnect: false,
    connectTimeoutMs: PATIENCE_MS,
    defaultQueryTimeoutMs: PATIENCE_MS,
    qrTimeout: PATIENCE_MS * 2,
    // The app state case also has Baileys check the LT-hash of every patch against its snapshot MAC.
    ...(appState ? { appStateMacVerification: { patch: true, snapshot: true } } : {}),
  })
  socket.ev.on('creds.update', (update) => Object.assign(auth.creds, update))
  socket.ev.on('connection.update', (update) => {
    if (update.connection === 'close') {
      const error = update.lastDisconnect?.error
      closes.push({ statusCode: error?.output?.statusCode ?? null, message: error?.message ?? null })
    }
    for (const waiter of connectionWaiters) waiter(update)
  })
  socket.ev.on('chats.update', (updates) => {
    for (const update of updates) for (const waiter of chatUpdateWaiters) waiter(update)
  })
  socket.ev.on('messages.upsert', ({ messages, type }) => {
    for (const message of messages) for (const waiter of messageWaiters) waiter(message, type)
  })
}

function onConnection(fn) {
  connectionWaiters.add(fn)
  return () => connectionWaiters.delete(fn)
}

function onMessage(fn) {
  messageWaiters.add(fn)
  return () => messageWaiters.delete(fn)
}

/** Runs one step; a thrown error is reported as that step's failure and ends the run. */
async function step(name, body) {
  try {
    const details = await body()
    report(name, true, details || {})
  } catch (error) {
    report(name, false, { error: error?.message || String(error) })
    throw error
  }
}

async function pairAndLogIn() {
  await step('phones', async () => {
    for (const phone of [ACCOUNT_PHONE, PEER_PHONE]) {
      const { status, body } = await control('POST', '/sim/phones', { phone, name: `Phone ${phone}` })
      if (status !== 201) throw new Error(`POST /sim/phones ${phone}: ${status} ${JSON.stringify(body)}`)
    }
    return { account: ACCOUNT_PHONE, peer: PEER_PHONE }
  })

  const firstClose = waitFor('the stream to close after pairing', (done) =>
    onConnection((u) => (u.connection === 'close' ? done(u) : undefined)),
  )
  firstClose.catch(() => {})
  const qrShown = waitFor('a QR code', (done) => onConnection((u) => (u.qr ? done(u.qr) : undefined)))
  connect()

  let qr
  await step('qr', async () => {
    qr = await qrShown
    const fields = qr.split(',')
    const noiseKey = Buffer.from(auth.creds.noiseKey.public).toString('base64')
    const identityKey = Buffer.from(auth.creds.signedIdentityKey.public).toString('base64')
    if (fields.length !== 4) throw new Error(`QR has ${fields.length} fields: ${qr}`)
    if (fields[1] !== noiseKey || fields[2] !== identityKey || fields[3] !== auth.creds.advSecretKey) {
      throw new Error('QR keys are not the client credentials')
    }
    return { qr, ref: fields[0] }
  })

  if (byCode) {
    let code
    await step('code', async () => {
      code = await socket.requestPairingCode(ACCOUNT_PHONE)
      if (!/^[0-9A-Z]{8}$/.test(code)) throw new Error(`unexpected pairing code ${code}`)
      return { code }
    })
    await step('link', async () => {
      // requestPairingCode resolves once its companion_hello is written, not when the server has it:
      // the phone types the code once the server knows it (as a person would, seconds later).
      const deadline = Date.now() + PATIENCE_MS
      for (;;) {
        const { status, body } = await control('POST', `/sim/phones/${ACCOUNT_PHONE}/link-code`, { code })
        if (status === 200) return { device: body.device, jid: body.jid }
        if (status !== 404 || body?.code !== 'NO_CODE_PENDING' || Date.now() > deadline) {
          throw new Error(`link-code answered ${status} ${JSON.stringify(body)}`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    })
  } else {
    await step('scan', async () => {
      const { status, body } = await control('POST', `/sim/phones/${ACCOUNT_PHONE}/scan`, { qr })
      if (status !== 200) throw new Error(`scan answered ${status} ${JSON.stringify(body)}`)
      return { device: body.device, jid: body.jid }
    })
  }

  await step('restart', async () => {
    const update = await firstClose
    const statusCode = update.lastDisconnect?.error?.output?.statusCode
    if (statusCode !== DisconnectReason.restartRequired) {
      throw new Error(`expected the stream to end with 515, got ${statusCode}: ${update.lastDisconnect?.error?.message}`)
    }
    return { statusCode, me: auth.creds.me, platform: auth.creds.platform ?? null }
  })

  const opened = waitFor('connection open after the restart', (done) =>
    onConnection((u) => {
      if (u.connection === 'open') done({ open: true })
      else if (u.connection === 'close') done({ open: false, error: u.lastDisconnect?.error?.message })
    }),
  )
  connect()
  await step('login', async () => {
    const outcome = await opened
    if (!outcome.open) throw new Error(`connection closed instead of opening: ${outcome.error}`)
    const me = auth.creds.me
    if (!me?.id) throw new Error('creds.me is not set after login')
    return { me, registered: auth.creds.registered ?? null }
  })

  await step('server-view', async () => {
    const { status, body } = await control('GET', `/sim/phones/${ACCOUNT_PHONE}`)
    if (status !== 200) throw new Error(`GET phone answered ${status} ${JSON.stringify(body)}`)
    const device = (body.devices || []).find((d) => d.connected)
    if (!device) throw new Error(`no connected device: ${JSON.stringify(body)}`)
    return { device: device.device, prekeys: device.prekeys, connected: device.connected, lid: body.lid }
  })
}

async function exchangeText() {
  const outgoing = `hello from baileys ${Date.now()}`
  let sentId
  await step('send', async () => {
    const sent = await socket.sendMessage(`${PEER_PHONE}@s.whatsapp.net`, { text: outgoing })
    sentId = sent?.key?.id
    if (!sentId) throw new Error('sendMessage returned no message id')
    return { id: sentId, text: outgoing }
  })

  await step('peer-received', async () => {
    const deadline = Date.now() + PATIENCE_MS
    for (;;) {
      const { status, body } = await control('GET', `/sim/phones/${PEER_PHONE}/messages`)
      if (status !== 200) throw new Error(`GET messages answered ${status} ${JSON.stringify(body)}`)
      // { received: [{ id, from, chat, text, timestamp, ... }], sent: [...], decryptFailures }
      const found = (body?.received || []).find((m) => m.id === sentId)
      if (found) {
        if (found.text !== outgoing) throw new Error(`peer decrypted ${JSON.stringify(found)}`)
        return { message: found }
      }
      if (Date.now() > deadline) throw new Error(`peer never received ${sentId}: ${JSON.stringify(body)}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  })

  const incoming = `hello from the phone ${Date.now()}`
  const received = waitFor('the phone text in Baileys', (done) =>
    onMessage((m) => {
      const text = m.message?.conversation || m.message?.extendedTextMessage?.text
      if (text === incoming) done(m)
    }),
  )
  received.catch(() => {})
  await step('peer-send', async () => {
    const { status, body } = await control('POST', `/sim/phones/${PEER_PHONE}/messages`, {
      to: ACCOUNT_PHONE,
      text: incoming,
    })
    if (status !== 201) throw new Error(`POST messages answered ${status} ${JSON.stringify(body)}`)
    return { id: body?.id, text: incoming }
  })
  let receivedKey
  await step('baileys-received', async () => {
    const message = await received
    receivedKey = message.key
    return { from: message.key.remoteJid, id: message.key.id, fromMe: message.key.fromMe, text: incoming }
  })

  // Baileys' receipts reach the phone: delivered on receipt, read once Baileys marks it read.
  await step('peer-delivered', async () => ({ status: await peerSentStatus(receivedKey.id, ['delivered', 'read']) }))
  if (!readReceipt) return
  await step('baileys-read', async () => {
    await socket.readMessages([receivedKey])
    return { id: receivedKey.id }
  })
  await step('peer-read', async () => ({ status: await peerSentStatus(receivedKey.id, ['read']) }))
}

/** The phone mutes and pins the peer's chat; Baileys decodes the app state patches and reports both. */
async function appStateSync() {
  await step('app-state-key', async () => {
    const deadline = Date.now() + PATIENCE_MS
    while (!auth.creds.myAppStateKeyId) {
      if (Date.now() > deadline) throw new Error('Baileys never stored an app state key')
      await new Promise((r) => setTimeout(r, 100))
    }
    const { body } = await control('GET', `/sim/phones/${ACCOUNT_PHONE}/app-state`)
    const keyId = Buffer.from(auth.creds.myAppStateKeyId, 'base64').toString('hex')
    if (keyId !== body?.keyId) throw new Error(`Baileys holds key ${keyId}, the phone ${JSON.stringify(body)}`)
    return { keyId }
  })
  const chat = `${PEER_PHONE}@s.whatsapp.net`
  const seen = {}
  const updated = waitFor('chats.update with the mute and the pin', (done) => {
    const fn = (update) => {
      if (update.id !== chat) return
      Object.assign(seen, update)
      if (seen.muteEndTime && seen.pinned) done({ ...seen })
    }
    chatUpdateWaiters.add(fn)
    return () => chatUpdateWaiters.delete(fn)
  })
  updated.catch(() => {})
  const muteSecs = 3600
  let changedAt
  await step('app-state-change', async () => {
    changedAt = Date.now()
    const { status, body } = await control('POST', `/sim/phones/${ACCOUNT_PHONE}/app-state/chats/${PEER_PHONE}`, {
      mute: muteSecs,
      pin: true,
    })
    if (status !== 200) throw new Error(`app-state chat change answered ${status} ${JSON.stringify(body)}`)
    return body
  })
  await step('app-state-chats-update', async () => {
    const update = await updated
    const muteEndTime = Number(update.muteEndTime)
    const expected = changedAt + muteSecs * 1000
    // The phone computes the end from its own clock (whole seconds): allow a few seconds either way.
    if (!(Math.abs(muteEndTime - expected) < 5000)) throw new Error(`muteEndTime ${muteEndTime}, expected about ${expected}`)
    return { id: update.id, muteEndTime, pinned: update.pinned }
  })
  // The other way: Baileys unpins (it writes and uploads the patch itself); the phone checks it with
  // the account key and keeps it only when every MAC verifies, so the version shows it was accepted.
  await step('app-state-upload', async () => {
    await socket.chatModify({ pin: false }, chat)
    const deadline = Date.now() + PATIENCE_MS
    for (;;) {
      const { body } = await control('GET', `/sim/phones/${ACCOUNT_PHONE}/app-state`)
      if (body?.versions?.regular_low === 2) return { versions: body.versions }
      if (Date.now() > deadline) throw new Error(`the phone did not take Baileys' patch: ${JSON.stringify(body)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })
}

/** Polls the peer phone's sent messages until `id` reaches one of `wanted`; resolves to that status. */
async function peerSentStatus(id, wanted) {
  const deadline = Date.now() + PATIENCE_MS
  for (;;) {
    const { status, body } = await control('GET', `/sim/phones/${PEER_PHONE}/messages`)
    if (status !== 200) throw new Error(`GET messages answered ${status} ${JSON.stringify(body)}`)
    const sent = (body?.sent || []).find((m) => m.id === id)
    if (sent && wanted.includes(sent.status)) return sent.status
    if (Date.now() > deadline) throw new Error(`status of ${id} is ${JSON.stringify(sent)}, wanted ${wanted}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

try {
  await pairAndLogIn()
  if (appState) await appStateSync()
  else if (!pairingOnly) await exchangeText()
} catch {
  // already reported by its step
}
report('done', !failed, { closes })
try {
  socket?.end(undefined)
} catch {
  // the socket may already be gone
}
// Baileys keeps timers (keep-alive, buffers) alive; the run is over.
process.exit(failed ? 1 : 0)
