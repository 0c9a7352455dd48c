// Shared by the Baileys drivers (interop.mjs, groups.mjs, presence.mjs): one unmodified Baileys paired with a
// simulated phone by QR through the control API, step reporting (one JSON line per step on stdout,
// `{"step", "ok", ...}`, as interop.mjs does), and waiting for Baileys events.
//
// Usage: `const h = harness()` reads `<ws url> <control url>` from the command line; `await
// h.pairAndLogIn(account, [other phones])`; `h.socket` is the logged-in socket; `await h.finish(run)`
// runs the feature steps, prints `{"step": "done"}` and exits (0 only when every step passed).

import { makeWASocket, initAuthCreds, BufferJSON, DisconnectReason, Browsers, proto } from '@whiskeysockets/baileys'
import pino from 'pino'

/** Version Baileys 6.7.24 reports (the interop vectors use the same one). */
export const WA_VERSION = [2, 3000, 1043857760]
/** Bound on each wait; generous for slow CI machines, never a speed target. */
export const PATIENCE_MS = Number(process.env.INTEROP_PATIENCE_MS || 30000)
export const jid = (phone) => `${phone}@s.whatsapp.net`

/** Keys kept in memory (nothing left on disk); round-tripped through JSON like Baileys' own stores. */
export function memoryAuthState() {
  const creds = initAuthCreds()
  const data = new Map()
  const key = (type, id) => `${type}/${id}`
  const keys = {
    get: async (type, ids) => {
      const out = {}
      for (const id of ids) {
        const raw = data.get(key(type, id))
        if (raw === undefined) continue
        out[id] = JSON.parse(raw, BufferJSON.reviver)
        // As Baileys' own useMultiFileAuthState does: app state keys are protobuf objects whose JSON
        // form holds base64 strings, so they are rebuilt with fromObject.
        if (type === 'app-state-sync-key') out[id] = proto.Message.AppStateSyncKeyData.fromObject(out[id])
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

/** Calls to the simulator's control API at `controlUrl`; each resolves to { status, body }. */
export function controlClient(controlUrl) {
  return async (method, path, body) => {
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
}

export function harness() {
  const [wsUrl, controlUrl] = process.argv.slice(2)
  if (!wsUrl || !controlUrl) {
    console.error('usage: node <driver>.mjs <ws url> <control url>')
    process.exit(2)
  }
  const logger = pino({ level: process.env.BAILEYS_LOG || 'silent' }, pino.destination(2))
  const auth = memoryAuthState()
  const listeners = { connection: new Set(), message: new Set(), participants: new Set(), presence: new Set() }
  let failed = false

  const h = {
    socket: undefined,

    report(step, ok, details = {}) {
      if (!ok) failed = true
      process.stdout.write(JSON.stringify({ step, ok, ...details }) + '\n')
    },

    /** One control API call; resolves to { status, body }. */
    control: controlClient(controlUrl),

    /** Listens to `connection`, `message`, `participants` or `presence` events; returns the unsubscriber. */
    on(kind, fn) {
      listeners[kind].add(fn)
      return () => listeners[kind].delete(fn)
    },

    /** Resolves with the first value a listener passes to `done`, or rejects after PATIENCE_MS. */
    waitFor(what, subscribe) {
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
    },

    /** Polls `probe` (async, undefined until satisfied) until it returns a value. */
    async until(what, probe) {
      const deadline = Date.now() + PATIENCE_MS
      for (;;) {
        const value = await probe()
        if (value !== undefined) return value
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },

    /** Runs one step; a thrown error is reported as its failure and ends the run. */
    async step(name, body) {
      try {
        h.report(name, true, (await body()) || {})
      } catch (error) {
        h.report(name, false, { error: error?.message || String(error) })
        throw error
      }
    },

    connect() {
      const socket = makeWASocket({
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
      socket.ev.on('messages.upsert', ({ messages }) =>
        messages.forEach((m) => listeners.message.forEach((fn) => fn(m))),
      )
      socket.ev.on('group-participants.update', (u) => listeners.participants.forEach((fn) => fn(u)))
      socket.ev.on('presence.update', (u) => listeners.presence.forEach((fn) => fn(u)))
      h.socket = socket
    },

    /** Creates the phones, pairs Baileys with `account` by QR and waits for the login after 515. */
    async pairAndLogIn(account, others) {
      await h.step('phones', async () => {
        for (const phone of [account, ...others]) {
          const { status, body } = await h.control('POST', '/sim/phones', { phone, name: `Phone ${phone}` })
          if (status !== 201) throw new Error(`POST /sim/phones ${phone}: ${status} ${JSON.stringify(body)}`)
        }
      })
      const closed = h.waitFor('the 515 restart', (done) =>
        h.on('connection', (u) => (u.connection === 'close' ? done(u) : undefined)),
      )
      const qrShown = h.waitFor('a QR code', (done) => h.on('connection', (u) => (u.qr ? done(u.qr) : undefined)))
      h.connect()
      await h.step('scan', async () => {
        const { status, body } = await h.control('POST', `/sim/phones/${account}/scan`, { qr: await qrShown })
        if (status !== 200) throw new Error(`scan answered ${status} ${JSON.stringify(body)}`)
      })
      await h.step('restart', async () => {
        const code = (await closed).lastDisconnect?.error?.output?.statusCode
        if (code !== DisconnectReason.restartRequired) throw new Error(`expected 515, got ${code}`)
      })
      const opened = h.waitFor('connection open', (done) =>
        h.on('connection', (u) => (u.connection === 'open' || u.connection === 'close' ? done(u) : undefined)),
      )
      h.connect()
      await h.step('login', async () => {
        const u = await opened
        if (u.connection !== 'open') throw new Error(`closed instead of opening: ${u.lastDisconnect?.error?.message}`)
      })
    },

    /** Runs `body` (its failures are already reported by their step), reports `done` and exits. */
    async finish(body) {
      try {
        await body()
      } catch {
        // already reported by its step
      }
      h.report('done', !failed)
      try {
        h.socket?.end(undefined)
      } catch {
        // the socket may already be gone
      }
      // Baileys keeps timers (keep-alive, buffers) alive; the run is over.
      process.exit(failed ? 1 : 0)
    },
  }
  return h
}
