// A real, unmodified Baileys client managing groups on Chattu's WhatsApp simulator over w:g2 iqs.
//
//   node tests/baileys/groups.mjs <ws url> <control url>
//
// Same conventions as interop.mjs: one JSON line per step on stdout (`{"step", "ok", ...}`), the last
// one `{"step": "done"}`, exit code 0 only when every step passed; tests/sim_baileys_groups.rs runs it.
//
// Steps: three phones → Baileys pairs by QR with the first and logs in → Baileys creates a group with
// the second (groupCreate) → adds the third (groupParticipantsUpdate) → renames it (groupUpdateSubject)
// → sets its description (groupUpdateDescription) → sends a text to it, which both phones must decrypt
// (sender keys) → the account's phone promotes the second through the control API and Baileys must see
// the w:gp2 notification as `group-participants.update` → the second phone posts to the group and
// Baileys must decrypt it → Baileys leaves (groupLeave). After each change the control API must show
// the group as Baileys changed it.

import { makeWASocket, initAuthCreds, BufferJSON, DisconnectReason, Browsers } from '@whiskeysockets/baileys'
import pino from 'pino'

const WA_VERSION = [2, 3000, 1043857760]
const PATIENCE_MS = Number(process.env.INTEROP_PATIENCE_MS || 30000)
const ACCOUNT = '15550001111'
const SECOND = '15550002222'
const THIRD = '15550003333'
const jid = (phone) => `${phone}@s.whatsapp.net`

const [wsUrl, controlUrl] = process.argv.slice(2)
if (!wsUrl || !controlUrl) {
  console.error('usage: node groups.mjs <ws url> <control url>')
  process.exit(2)
}
const logger = pino({ level: process.env.BAILEYS_LOG || 'silent' }, pino.destination(2))

let failed = false
function report(step, ok, details = {}) {
  if (!ok) failed = true
  process.stdout.write(JSON.stringify({ step, ok, ...details }) + '\n')
}

async function control(method, path, body) {
  const response = await fetch(controlUrl + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(PATIENCE_MS),
  })
  const text = await response.text()
  let parsed
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    parsed = text
  }
  return { status: response.status, body: parsed }
}

function memoryAuthState() {
  const creds = initAuthCreds()
  const data = new Map()
  const key = (type, id) => `${type}/${id}`
  const keys = {
    get: async (type, ids) => {
      const out = {}
      for (const id of ids) {
        const raw = data.get(key(type, id))
        if (raw !== undefined) out[id] = JSON.parse(raw, BufferJSON.reviver)
      }
      return out
    },
    set: async (batch) => {
      for (const [type, entries] of Object.entries(batch)) {
        for (const [id, value] of Object.entries(entries)) {
          if (value) data.set(key(type, id), JSON.stringify(value, BufferJSON.replacer))
          else data.delete(key(type, id))
        }
      }
    },
  }
  return { creds, keys }
}

/** Resolves with the first value a listener passes to `done`, or rejects after PATIENCE_MS. */
function waitFor(what, subscribe) {
  const promise = new Promise((resolve, reject) => {
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
  promise.catch(() => {})
  return promise
}

const auth = memoryAuthState()
let socket
const listeners = { connection: new Set(), message: new Set(), participants: new Set() }
function on(kind, fn) {
  listeners[kind].add(fn)
  return () => listeners[kind].delete(fn)
}

function connect() {
  socket = makeWASocket({
    waWebSocketUrl: wsUrl,
    auth,
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
  })
  socket.ev.on('creds.update', (update) => Object.assign(auth.creds, update))
  socket.ev.on('connection.update', (u) => listeners.connection.forEach((fn) => fn(u)))
  socket.ev.on('messages.upsert', ({ messages }) => messages.forEach((m) => listeners.message.forEach((fn) => fn(m))))
  socket.ev.on('group-participants.update', (u) => listeners.participants.forEach((fn) => fn(u)))
}

async function step(name, body) {
  try {
    report(name, true, (await body()) || {})
  } catch (error) {
    report(name, false, { error: error?.message || String(error) })
    throw error
  }
}

/** Polls `probe` (async, returns undefined until satisfied) until it returns a value. */
async function until(what, probe) {
  const deadline = Date.now() + PATIENCE_MS
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function groupView(id) {
  const { status, body } = await control('GET', `/sim/groups/${id}`)
  if (status !== 200) throw new Error(`GET /sim/groups/${id}: ${status} ${JSON.stringify(body)}`)
  return body
}

async function pairAndLogIn() {
  await step('phones', async () => {
    for (const phone of [ACCOUNT, SECOND, THIRD]) {
      const { status, body } = await control('POST', '/sim/phones', { phone })
      if (status !== 201) throw new Error(`POST /sim/phones ${phone}: ${status} ${JSON.stringify(body)}`)
    }
  })
  const closed = waitFor('the 515 restart', (done) => on('connection', (u) => (u.connection === 'close' ? done(u) : undefined)))
  const qrShown = waitFor('a QR code', (done) => on('connection', (u) => (u.qr ? done(u.qr) : undefined)))
  connect()
  await step('scan', async () => {
    const { status, body } = await control('POST', `/sim/phones/${ACCOUNT}/scan`, { qr: await qrShown })
    if (status !== 200) throw new Error(`scan answered ${status} ${JSON.stringify(body)}`)
  })
  await step('restart', async () => {
    const code = (await closed).lastDisconnect?.error?.output?.statusCode
    if (code !== DisconnectReason.restartRequired) throw new Error(`expected 515, got ${code}`)
  })
  const opened = waitFor('connection open', (done) =>
    on('connection', (u) => (u.connection === 'open' || u.connection === 'close' ? done(u) : undefined)),
  )
  connect()
  await step('login', async () => {
    const u = await opened
    if (u.connection !== 'open') throw new Error(`closed instead of opening: ${u.lastDisconnect?.error?.message}`)
  })
}

async function manageGroup() {
  let id
  await step('create', async () => {
    const meta = await socket.groupCreate('Interop group', [jid(SECOND)])
    id = meta.id
    const view = await groupView(id)
    const phones = view.participants.map((p) => p.phone).sort()
    if (view.creator !== ACCOUNT || phones.join() !== [ACCOUNT, SECOND].join()) {
      throw new Error(`server group ${JSON.stringify(view)}`)
    }
    if (meta.subject !== 'Interop group' || meta.participants.length !== 2) {
      throw new Error(`Baileys metadata ${JSON.stringify(meta)}`)
    }
    return { id, participants: phones }
  })
  await step('add', async () => {
    const result = await socket.groupParticipantsUpdate(id, [jid(THIRD)], 'add')
    if (result?.[0]?.status !== '200') throw new Error(`add answered ${JSON.stringify(result)}`)
    const view = await groupView(id)
    if (!view.participants.some((p) => p.phone === THIRD)) throw new Error(`not added: ${JSON.stringify(view)}`)
    return { result }
  })
  await step('subject', async () => {
    await socket.groupUpdateSubject(id, 'Renamed by Baileys')
    const view = await groupView(id)
    if (view.subject !== 'Renamed by Baileys') throw new Error(`subject is ${view.subject}`)
  })
  await step('description', async () => {
    await socket.groupUpdateDescription(id, 'Set by Baileys')
    const view = await groupView(id)
    if (view.description !== 'Set by Baileys') throw new Error(`description is ${view.description}`)
  })
  const text = `hello group ${Date.now()}`
  await step('send', async () => {
    const sent = await socket.sendMessage(id, { text })
    for (const phone of [SECOND, THIRD]) {
      await until(`${phone} to decrypt the group text`, async () => {
        const { body } = await control('GET', `/sim/groups/${id}/inbox/${phone}`)
        return (body?.messages || []).find((m) => m.text === text)
      })
    }
    return { id: sent?.key?.id }
  })
  const promoted = waitFor('group-participants.update promote', (done) =>
    on('participants', (u) => (u.id === id && u.action === 'promote' ? done(u) : undefined)),
  )
  await step('notification', async () => {
    const { status, body } = await control('POST', `/sim/groups/${id}/participants`, {
      by: ACCOUNT,
      action: 'promote',
      participants: [SECOND],
    })
    if (status !== 200) throw new Error(`promote answered ${status} ${JSON.stringify(body)}`)
    const update = await promoted
    const named = (update.participants || []).map((p) => (typeof p === 'string' ? p : p.id))
    if (!named.includes(jid(SECOND))) throw new Error(`update ${JSON.stringify(update)}`)
    return { update }
  })
  const phoneText = `from the second phone ${Date.now()}`
  const received = waitFor('the phone group text in Baileys', (done) =>
    on('message', (m) => {
      const got = m.message?.conversation || m.message?.extendedTextMessage?.text
      if (got === phoneText && m.key.remoteJid === id) done(m)
    }),
  )
  await step('receive', async () => {
    const { status, body } = await control('POST', `/sim/groups/${id}/send`, { from: SECOND, text: phoneText })
    if (status !== 200) throw new Error(`group send answered ${status} ${JSON.stringify(body)}`)
    const m = await received
    return { participant: m.key.participant }
  })
  await step('leave', async () => {
    await socket.groupLeave(id)
    const view = await groupView(id)
    if (view.participants.some((p) => p.phone === ACCOUNT)) throw new Error(`still in: ${JSON.stringify(view)}`)
  })
}

try {
  await pairAndLogIn()
  await manageGroup()
} catch {
  // already reported by its step
}
report('done', !failed)
try {
  socket?.end(undefined)
} catch {
  // the socket may already be gone
}
process.exit(failed ? 1 : 0)
