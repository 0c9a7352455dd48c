// Clients: add a number and pair it (QR or pairing code), live status, client keys, delete, webhooks.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, seg, field, toast, errorText } = Chattu;

  function statusKind(status) {
    const s = String(status || '').toLowerCase();
    if (/^(authenticated|connected|ready|online|open)/.test(s)) return 'ok';
    if (/pending|qr|pair|connecting|starting|syncing/.test(s)) return 'pending';
    if (/disconnect|logged.?out|fail|banned|error|closed|offline/.test(s)) return 'bad';
    return 'unknown';
  }

  // Waiting to be linked (a QR or pairing code is useful); "Connecting" alone is a reconnect, not a pairing.
  function isPending(status) {
    return /pending|qr|pair/i.test(String(status || ''));
  }

  function badge(status) {
    const text = status || 'Unknown';
    return h('span', { class: 'badge badge-' + statusKind(text), 'data-status': text }, text);
  }

  // A secret shown masked, with reveal and copy buttons.
  function secret(label, value) {
    const text = h('code', { class: 'secret masked', 'aria-label': label }, '•'.repeat(12));
    let shown = false;
    const reveal = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-pressed': 'false' }, 'Reveal');
    reveal.addEventListener('click', () => {
      shown = !shown;
      text.textContent = shown ? value : '•'.repeat(12);
      text.classList.toggle('masked', !shown);
      reveal.textContent = shown ? 'Hide' : 'Reveal';
      reveal.setAttribute('aria-pressed', String(shown));
    });
    const copy = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Copy');
    copy.addEventListener('click', async () => toast((await Chattu.copyText(value)) ? label + ' copied' : 'Copy failed', 'info'));
    return h('span', { class: 'secret-row' }, text, reveal, copy);
  }

  // Webhook URL, a test event and the recent deliveries (routes from the API's later list; hidden on 404).
  function webhookSection(client) {
    const id = client.clientId;
    const inputId = 'webhook-' + id;
    const input = h('input', {
      id: inputId,
      type: 'url',
      inputmode: 'url',
      placeholder: 'https://example.com/webhook',
      value: field(client, 'webhookUrl', 'webhook_url', 'webhook') || '',
    });
    const save = h('button', { type: 'submit', class: 'btn btn-small' }, 'Save');
    const testBtn = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Send test event');
    const note = h('p', { class: 'muted small', role: 'status' });
    const list = h('div', { class: 'deliveries' });
    const details = h('details', { class: 'deliveries-box' }, h('summary', {}, 'Recent deliveries'), list);

    const form = h(
      'form',
      { class: 'inline-form' },
      h('label', { for: inputId }, 'Webhook URL'),
      h('div', { class: 'row' }, input, save, testBtn)
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        await api('POST', '/api/update-webhook', { clientId: id, webhookUrl: input.value.trim() });
        toast('Webhook saved for ' + id, 'ok');
      } catch (err) {
        toast(errorText(err), 'error');
      } finally {
        save.disabled = false;
      }
    });

    testBtn.addEventListener('click', async () => {
      testBtn.disabled = true;
      try {
        await api('POST', '/api/webhooks/' + seg(id) + '/test', {});
        toast('Test event queued', 'ok');
        if (details.open) loadDeliveries();
        testBtn.disabled = false;
      } catch (err) {
        if (err.unavailable) {
          note.textContent = 'Test events are not available on this server yet.';
          testBtn.title = note.textContent;
        } else {
          toast(errorText(err), 'error');
          testBtn.disabled = false;
        }
      }
    });

    async function loadDeliveries() {
      Chattu.clear(list).appendChild(h('p', { class: 'muted' }, 'Loading…'));
      try {
        const rows = deliveryRows(await api('GET', '/api/webhooks/' + seg(id) + '/deliveries'));
        Chattu.clear(list).appendChild(
          Chattu.table(
            rows,
            [
              { label: 'When', get: (r) => Chattu.formatShort(field(r, 'createdAt', 'created_at', 'at', 'timestamp')) },
              { label: 'Event', get: (r) => field(r, 'event', 'type') || '' },
              { label: 'Status', get: (r) => deliveryStatus(r) },
              { label: 'Attempts', get: (r) => String(field(r, 'attempts', 'attempt') ?? '') },
              { label: '', get: (r) => replayButton(r) },
            ],
            'No deliveries yet.',
            'Recent webhook deliveries'
          )
        );
      } catch (err) {
        Chattu.clear(list).appendChild(err.unavailable ? Chattu.unavailableNotice('The delivery log') : Chattu.errorNotice(err));
      }
    }

    // GET /api/webhooks/:clientId/deliveries answers {pending, deadLetters, recentAttempts}
    // (docs/webhooks.md): dead letters first (they can be replayed), then the queue, then attempts.
    function deliveryRows(data) {
      if (Array.isArray(data)) return data;
      const queued = (data.deadLetters || []).concat(data.pending || []);
      const attempts = (data.recentAttempts || []).map((a) => ({
        event: a.event,
        status: a.outcome,
        statusCode: a.statusCode,
        attempts: a.attempt,
        createdAt: a.at,
      }));
      return queued.concat(attempts);
    }

    function deliveryStatus(r) {
      const status = String(field(r, 'status', 'state') || '');
      const code = field(r, 'responseStatus', 'httpStatus', 'statusCode', 'response_status');
      const kind = /deliver|success|ok|sent/i.test(status) ? 'ok' : /fail|dead|error/i.test(status) ? 'bad' : 'pending';
      return h('span', { class: 'badge badge-' + kind }, status + (code ? ' · ' + code : ''));
    }

    function replayButton(r) {
      // Only dead letters can be replayed; queued events and past attempts have no button.
      const deliveryId = field(r, 'eventId', 'id', 'deliveryId');
      if (deliveryId === undefined || field(r, 'state', 'status') !== 'dead') return '';
      const btn = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': 'Replay delivery ' + deliveryId }, 'Replay');
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        try {
          await api('POST', '/api/webhooks/' + seg(id) + '/deliveries/' + seg(deliveryId) + '/replay', {});
          toast('Delivery replayed', 'ok');
          loadDeliveries();
        } catch (err) {
          toast(err.unavailable ? 'Replay is not available on this server yet.' : errorText(err), 'error');
          btn.disabled = false;
        }
      });
      return btn;
    }

    details.addEventListener('toggle', () => details.open && loadDeliveries());
    return h('section', { class: 'webhook', 'aria-label': 'Webhook for ' + id }, form, note, details);
  }

  // One client card, updated in place so typing in its inputs survives refreshes.
  function clientCard(client, page) {
    const id = client.clientId;
    const badgeSlot = h('span', { class: 'badge-slot' });
    const connected = h('span', { class: 'muted small', dir: 'auto' });
    const qrImg = h('img', { class: 'qr', alt: 'QR code to link ' + id + ': scan it in WhatsApp, Linked devices', width: 232, height: 232, hidden: true });
    const qrText = h('p', { class: 'muted small', role: 'status' });
    const pairing = h('p', { class: 'pairing-code', hidden: true });
    const qrBox = h('div', { class: 'qr-box', hidden: true }, h('h3', {}, 'Link this number'), qrImg, pairing, qrText);
    const del = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Delete');
    const card = h(
      'article',
      { class: 'card client-card', 'data-client': id, 'aria-label': 'Client ' + id },
      h(
        'header',
        { class: 'client-head' },
        h('div', {}, h('h2', { class: 'client-id', dir: 'auto' }, id), h('span', { class: 'muted', dir: 'ltr' }, client.phoneNumber || '')),
        badgeSlot
      ),
      connected,
      qrBox,
      h('div', { class: 'client-key' }, h('span', { class: 'muted small' }, 'Client API key'), secret('Client API key', client.apiKey || '')),
      webhookSection(client),
      h('div', { class: 'card-actions' }, del)
    );
    let qrUrl = null;
    let lastQrFetch = 0;

    del.addEventListener('click', async () => {
      const answer = await Chattu.askDialog(
        'Delete ' + id + '?',
        'This disconnects the WhatsApp session and deletes the client permanently. Enter your password to confirm.',
        [{ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' }],
        'Delete',
        true
      );
      if (!answer) return;
      try {
        await api('DELETE', '/clients/' + seg(id), { password: answer.password });
        toast('Deleted ' + id, 'ok');
        page.refresh();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    });

    function showQr(src) {
      if (qrUrl && qrUrl !== src) URL.revokeObjectURL(qrUrl);
      qrUrl = src && src.startsWith('blob:') ? src : null;
      qrImg.src = src;
      qrImg.hidden = false;
      qrText.textContent = 'Open WhatsApp on the phone › Linked devices › Link a device, and scan this code. It refreshes by itself.';
    }

    async function fetchQr() {
      lastQrFetch = Date.now();
      try {
        const response = await fetch('/api/qr/' + seg(id), { credentials: 'same-origin' });
        const type = response.headers.get('content-type') || '';
        if (response.ok && type.startsWith('image/')) {
          showQr(URL.createObjectURL(await response.blob()));
        } else if (response.ok && type.includes('json')) {
          const data = await response.json();
          const src = field(data, 'qrCode', 'qr');
          if (typeof src === 'string' && src.startsWith('data:image/')) showQr(src);
          if (field(data, 'pairingCode')) showPairing(field(data, 'pairingCode'));
        } else {
          await response.text().catch(() => '');
          if (!qrImg.src) qrText.textContent = 'Waiting for a QR code from WhatsApp…';
        }
      } catch (err) {
        qrText.textContent = 'Could not load the QR code: ' + errorText(err);
      }
    }

    function showPairing(code) {
      pairing.hidden = false;
      pairing.textContent = 'Pairing code: ' + code;
    }

    function update(next) {
      client = next;
      Chattu.clear(badgeSlot).appendChild(badge(next.status));
      const number = field(next, 'connectedNumber', 'connected_number');
      connected.textContent = number && number !== 'Not Connected' ? 'Connected as ' + number : 'Not connected';
      const pending = isPending(next.status);
      qrBox.hidden = !pending;
      card.classList.toggle('pending', pending);
      if (!pending && qrUrl) {
        URL.revokeObjectURL(qrUrl);
        qrUrl = null;
      }
      if (!pending) qrImg.removeAttribute('src');
    }

    update(client);
    return {
      el: card,
      update,
      pending: () => isPending(client.status),
      onEvent(event) {
        if (event.qrCode && typeof event.qrCode === 'string' && event.qrCode.startsWith('data:image/')) showQr(event.qrCode);
        if (event.pairingCode) showPairing(String(event.pairingCode));
        if (event.status) update(Object.assign({}, client, { status: event.status }));
      },
      // Pending clients rotate their QR roughly every 20 s; refetch it on that rhythm.
      tickQr(force) {
        if (isPending(client.status) && (force || Date.now() - lastQrFetch > 15000)) return fetchQr();
        return null;
      },
      initialQr(dataUrl, pairingCode) {
        if (typeof dataUrl === 'string' && dataUrl.startsWith('data:image/')) showQr(dataUrl);
        if (pairingCode) showPairing(pairingCode);
      },
    };
  }

  function addForm(page) {
    const clientId = h('input', { id: 'add-client-id', name: 'clientId', required: true, pattern: '[A-Za-z0-9_.\\-]{1,64}', placeholder: 'shop-main', autocomplete: 'off' });
    const phone = h('input', { id: 'add-phone', name: 'phoneNumber', required: true, inputmode: 'numeric', pattern: '\\+?[0-9 \\-]{6,20}', placeholder: '972501234567', autocomplete: 'off', dir: 'ltr' });
    const submit = h('button', { type: 'submit', class: 'btn' }, 'Add number');
    const result = h('div', { class: 'add-result', role: 'status' });
    const form = h(
      'form',
      { class: 'card add-form', 'aria-labelledby': 'add-title' },
      h('h2', { id: 'add-title' }, 'Add a WhatsApp number'),
      h(
        'div',
        { class: 'grid-2' },
        h('label', { for: 'add-client-id' }, 'Client ID', clientId),
        h('label', { for: 'add-phone' }, 'Phone number (country code, no +)', phone)
      ),
      h('div', { class: 'actions' }, submit),
      result
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      Chattu.clear(result);
      try {
        const id = clientId.value.trim();
        const data = await api('POST', '/api/add-number', { clientId: id, phoneNumber: phone.value.replace(/[^0-9]/g, '') });
        result.appendChild(h('p', { class: 'notice ok', dir: 'auto' }, data && data.message ? data.message : 'Client added.'));
        if (data && data.apiKey) result.appendChild(h('p', {}, 'Client API key: ', secret('Client API key', data.apiKey)));
        form.reset();
        await page.refresh();
        const card = page.cards.get(id);
        if (card && data) card.initialQr(data.qrCode, field(data, 'pairingCode', 'pairing_code'));
      } catch (err) {
        result.appendChild(Chattu.errorNotice(err));
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  Chattu.pages.clients = {
    title: 'Clients',
    async render(root, ctx) {
      const list = h('div', { class: 'client-list', 'aria-live': 'polite' });
      const page = { cards: new Map() };
      const empty = h('p', { class: 'muted empty' }, 'No numbers yet. Add one above and scan its QR code with the phone.');

      page.refresh = async () => {
        const clients = await Chattu.clients(true);
        if (!ctx.isCurrent()) return;
        const seen = new Set();
        for (const c of clients) {
          seen.add(c.clientId);
          let card = page.cards.get(c.clientId);
          if (card) card.update(c);
          else {
            card = clientCard(c, page);
            page.cards.set(c.clientId, card);
            list.appendChild(card.el);
            card.tickQr(true);
          }
        }
        for (const [id, card] of page.cards) {
          if (!seen.has(id)) {
            card.el.remove();
            page.cards.delete(id);
          }
        }
        empty.hidden = clients.length > 0;
      };

      root.append(Chattu.pageHeader('Clients'), addForm(page), empty, list);
      await page.refresh();

      Chattu.live.on((event) => {
        const card = event.clientId && page.cards.get(event.clientId);
        if (card) card.onEvent(event);
        if (/client|status|ready|auth|logout|disconnect/i.test(event.type)) page.refresh();
      });
      Chattu.live.poll(page.refresh, 10000);
      Chattu.live.poll(() => Promise.all([...page.cards.values()].map((card) => card.tickQr(false))), 5000, { always: true });
    },
  };
})();
