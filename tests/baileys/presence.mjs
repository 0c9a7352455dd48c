// A real, unmodified Baileys client and the simulator's presence and chat states.
//
//   node tests/baileys/presence.mjs <ws url> <control url>
//
// Same conventions as interop.mjs (see harness.mjs); tests/sim_baileys_features.rs runs it.
//
// Steps: two phones → Baileys pairs by QR with the first and logs in → Baileys subscribes to the
// second's presence (presenceSubscribe) and must be told it at once (`presence.update`, unavailable)
// → the second phone comes online, types, records audio and goes offline through the control API;
// Baileys must report each (`available`, `composing`, `recording`, `unavailable` with `lastSeen`)
// → Baileys types to the second phone (sendPresenceUpdate) and the phone must log the chat state.

import { harness, jid } from './harness.mjs'

const ACCOUNT = '15550001111'
const PEER = '15550002222'
const h = harness()

/** The next presence Baileys reports for the peer, once `act` ran. */
async function peerPresence(what, act) {
  const seen = h.waitFor(what, (done) =>
    h.on('presence', (u) => {
      const presence = u.presences?.[jid(PEER)]
      if (u.id === jid(PEER) && presence?.lastKnownPresence === what) done(presence)
    }),
  )
  await act()
  return seen
}

async function presence() {
  await h.step('subscribe', async () => {
    const presence = await peerPresence('unavailable', () => h.socket.presenceSubscribe(jid(PEER)))
    return { presence }
  })
  const phone = async (path, body) => {
    const { status, body: answer } = await h.control('POST', `/sim/phones/${PEER}/${path}`, body)
    if (status !== 200) throw new Error(`${path} answered ${status} ${JSON.stringify(answer)}`)
  }
  await h.step('peer-online', async () => ({
    presence: await peerPresence('available', () => phone('presence', { type: 'available' })),
  }))
  await h.step('peer-typing', async () => ({
    presence: await peerPresence('composing', () => phone('chatstate', { to: ACCOUNT, state: 'composing' })),
  }))
  await h.step('peer-recording', async () => ({
    presence: await peerPresence('recording', () => phone('chatstate', { to: ACCOUNT, state: 'recording' })),
  }))
  await h.step('peer-offline', async () => {
    const presence = await peerPresence('unavailable', () => phone('presence', { type: 'unavailable' }))
    if (!(presence.lastSeen > 0)) throw new Error(`no lastSeen: ${JSON.stringify(presence)}`)
    return { presence }
  })
  await h.step('baileys-typing', async () => {
    await h.socket.sendPresenceUpdate('composing', jid(PEER))
    const event = await h.until('the phone to log Baileys typing', async () => {
      const { body } = await h.control('GET', `/sim/phones/${PEER}/presence`)
      return (body?.received || []).find((e) => e.kind === 'chatstate' && e.from === ACCOUNT)
    })
    if (event.state !== 'composing') throw new Error(`phone logged ${JSON.stringify(event)}`)
    return { event }
  })
}

await h.finish(async () => {
  await h.pairAndLogIn(ACCOUNT, [PEER])
  await presence()
})
