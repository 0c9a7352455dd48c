// A real, unmodified Baileys client managing groups on Chattu's WhatsApp simulator over w:g2 iqs.
//
//   node tests/baileys/groups.mjs <ws url> <control url>
//
// Same conventions as interop.mjs (see harness.mjs); tests/sim_baileys_features.rs runs it.
//
// Steps: three phones → Baileys pairs by QR with the first and logs in → Baileys creates a group with
// the second (groupCreate) → adds the third (groupParticipantsUpdate) → renames it (groupUpdateSubject)
// → sets its description (groupUpdateDescription) → sends a text to it, which both phones must decrypt
// (sender keys) → the account's phone promotes the second through the control API and Baileys must see
// the w:gp2 notification as `group-participants.update` → the second phone posts to the group and
// Baileys must decrypt it → Baileys leaves (groupLeave). After each change the control API must show
// the group as Baileys changed it.

import { harness, jid } from './harness.mjs'

const ACCOUNT = '15550001111'
const SECOND = '15550002222'
const THIRD = '15550003333'
const h = harness()

async function groupView(id) {
  const { status, body } = await h.control('GET', `/sim/groups/${id}`)
  if (status !== 200) throw new Error(`GET /sim/groups/${id}: ${status} ${JSON.stringify(body)}`)
  return body
}

async function manageGroup() {
  let id
  await h.step('create', async () => {
    const meta = await h.socket.groupCreate('Interop group', [jid(SECOND)])
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
  await h.step('add', async () => {
    const result = await h.socket.groupParticipantsUpdate(id, [jid(THIRD)], 'add')
    if (result?.[0]?.status !== '200') throw new Error(`add answered ${JSON.stringify(result)}`)
    const view = await groupView(id)
    if (!view.participants.some((p) => p.phone === THIRD)) throw new Error(`not added: ${JSON.stringify(view)}`)
    return { result }
  })
  await h.step('subject', async () => {
    await h.socket.groupUpdateSubject(id, 'Renamed by Baileys')
    const view = await groupView(id)
    if (view.subject !== 'Renamed by Baileys') throw new Error(`subject is ${view.subject}`)
  })
  await h.step('description', async () => {
    await h.socket.groupUpdateDescription(id, 'Set by Baileys')
    const view = await groupView(id)
    if (view.description !== 'Set by Baileys') throw new Error(`description is ${view.description}`)
  })
  const text = `hello group ${Date.now()}`
  await h.step('send', async () => {
    const sent = await h.socket.sendMessage(id, { text })
    for (const phone of [SECOND, THIRD]) {
      await h.until(`${phone} to decrypt the group text`, async () => {
        const { body } = await h.control('GET', `/sim/groups/${id}/inbox/${phone}`)
        return (body?.messages || []).find((m) => m.text === text)
      })
    }
    return { id: sent?.key?.id }
  })
  const promoted = h.waitFor('group-participants.update promote', (done) =>
    h.on('participants', (u) => (u.id === id && u.action === 'promote' ? done(u) : undefined)),
  )
  await h.step('notification', async () => {
    const { status, body } = await h.control('POST', `/sim/groups/${id}/participants`, {
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
  const received = h.waitFor('the phone group text in Baileys', (done) =>
    h.on('message', (m) => {
      const got = m.message?.conversation || m.message?.extendedTextMessage?.text
      if (got === phoneText && m.key.remoteJid === id) done(m)
    }),
  )
  await h.step('receive', async () => {
    const { status, body } = await h.control('POST', `/sim/groups/${id}/send`, { from: SECOND, text: phoneText })
    if (status !== 200) throw new Error(`group send answered ${status} ${JSON.stringify(body)}`)
    const m = await received
    return { participant: m.key.participant }
  })
  await h.step('leave', async () => {
    await h.socket.groupLeave(id)
    const view = await groupView(id)
    if (view.participants.some((p) => p.phone === ACCOUNT)) throw new Error(`still in: ${JSON.stringify(view)}`)
  })
}

await h.finish(async () => {
  await h.pairAndLogIn(ACCOUNT, [SECOND, THIRD])
  await manageGroup()
})
