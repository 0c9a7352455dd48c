// Logs: sent messages, received messages and calls per client, and the application log.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, seg, field } = Chattu;

  const TABS = [
    ['sent', 'Sent'],
    ['received', 'Received'],
    ['calls', 'Calls'],
    ['app', 'Application'],
  ];

  const time = (r, ...keys) => Chattu.formatTime(field(r, ...keys));
  const ltr = (value) => h('span', { dir: 'ltr' }, String(value ?? ''));
  const text = (value) => h('span', { class: 'clip', dir: 'auto' }, String(value ?? ''));

  async function sent(slot) {
    const rows = Chattu.pickArray(await api('GET', '/api/sent-messages'), 'messages');
    slot.appendChild(
      Chattu.table(
        rows,
        [
          { label: 'Sent', get: (r) => time(r, 'sentAt', 'sent_at', 'timestamp') },
          { label: 'Client', get: (r) => field(r, 'clientId', 'client_id') || '' },
          { label: 'To', get: (r) => ltr(field(r, 'recipient', 'to')) },
          { label: 'Message', auto: true, get: (r) => text(field(r, 'message', 'body')) },
          { label: 'Status', get: (r) => String(r.status || '') },
        ],
        'No messages sent yet.',
        'Sent messages'
      )
    );
  }

  async function received(slot, clientId) {
    const rows = Chattu.pickArray(await api('GET', '/api/received-messages/' + seg(clientId)), 'messages');
    slot.appendChild(
      Chattu.table(
        rows,
        [
          { label: 'Received', get: (r) => time(r, 'received_at', 'receivedAt', 'timestamp') },
          { label: 'From', get: (r) => ltr(field(r, 'sender', 'from')) },
          { label: 'Message', auto: true, get: (r) => text(field(r, 'message', 'body')) },
        ],
        'No messages received yet.',
        'Received messages'
      )
    );
  }

  async function calls(slot, clientId) {
    const perClient = Chattu.pickArray(await api('GET', '/api/incoming-calls/' + seg(clientId)), 'calls');
    const columns = [
      { label: 'When', get: (r) => time(r, 'start_time', 'startTime', 'created_at', 'createdAt', 'timestamp') },
      { label: 'Client', get: (r) => field(r, 'client_id', 'clientId') || '' },
      { label: 'From', get: (r) => ltr(field(r, 'call_from', 'callFrom', 'from')) },
      { label: 'Kind', get: (r) => (field(r, 'is_video', 'isVideo') ? 'video' : 'voice') },
      { label: 'Duration', get: (r) => (field(r, 'duration') != null ? field(r, 'duration') + ' s' : '') },
    ];
    slot.append(h('h3', {}, 'Incoming calls to ' + clientId), Chattu.table(perClient, columns, 'No calls.', 'Incoming calls'));
    const all = Chattu.pickArray(await api('GET', '/api/call-logs'), 'calls', 'logs');
    slot.append(h('h3', {}, 'All clients (last 50)'), Chattu.table(all, columns, 'No calls.', 'Call log'));
  }

  // The application log: lines as strings or objects {time, level, target, message}.
  async function app(slot) {
    const lines = Chattu.pickArray(await api('GET', '/api/logs'), 'logs', 'lines');
    if (!lines.length) {
      slot.appendChild(h('p', { class: 'muted empty' }, 'The log is empty.'));
      return;
    }
    const list = h(
      'ol',
      { class: 'log-lines', 'aria-label': 'Application log' },
      lines.map((line) => {
        if (typeof line === 'string') return h('li', { dir: 'auto' }, line);
        const level = String(field(line, 'level') || '').toLowerCase();
        return h(
          'li',
          { class: 'level-' + level },
          h('span', { class: 'log-time' }, Chattu.formatTime(field(line, 'time', 'timestamp', 'at'))),
          ' ',
          h('span', { class: 'log-level' }, level.toUpperCase()),
          ' ',
          field(line, 'target') ? h('span', { class: 'log-target' }, String(line.target) + ' ') : null,
          h('span', { dir: 'auto' }, String(field(line, 'message', 'msg', 'line') ?? JSON.stringify(line)))
        );
      })
    );
    slot.appendChild(list);
    // Newest lines are last: start scrolled to them once the list is on the page.
    requestAnimationFrame(() => (list.scrollTop = list.scrollHeight));
  }

  Chattu.pages.logs = {
    title: 'Logs',
    async render(root, ctx) {
      const clients = await Chattu.clients();
      let tab = new URLSearchParams(location.search).get('tab') || 'sent';
      if (!TABS.some(([id]) => id === tab)) tab = 'sent';
      const picker = clients.length ? Chattu.clientPicker(clients, () => show(tab)) : null;
      const tabList = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Log kind' });
      const panel = h('div', { class: 'card tab-panel', role: 'tabpanel', id: 'log-panel' });
      const buttons = TABS.map(([id, label]) => {
        const btn = h('button', { type: 'button', role: 'tab', id: 'tab-' + id, 'aria-controls': 'log-panel', class: 'tab' }, label);
        btn.addEventListener('click', () => show(id));
        tabList.appendChild(btn);
        return [id, btn];
      });
      const refresh = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Refresh');
      refresh.addEventListener('click', () => show(tab));
      root.append(
        Chattu.pageHeader('Logs', picker ? h('label', { class: 'inline-label', for: picker.id }, 'Client') : null, picker, refresh),
        tabList,
        panel
      );

      async function show(id) {
        tab = id;
        history.replaceState(null, '', '/logs?tab=' + id);
        for (const [bid, btn] of buttons) {
          btn.setAttribute('aria-selected', String(bid === id));
          btn.classList.toggle('active', bid === id);
        }
        panel.setAttribute('aria-labelledby', 'tab-' + id);
        Chattu.clear(panel).appendChild(h('p', { class: 'muted' }, 'Loading…'));
        const slot = h('div', {});
        try {
          const clientId = picker && picker.value;
          if (id === 'sent') await sent(slot);
          else if (id === 'app') await app(slot);
          else if (!clientId) slot.appendChild(h('p', { class: 'muted empty' }, 'Add a number first.'));
          else if (id === 'received') await received(slot, clientId);
          else await calls(slot, clientId);
        } catch (err) {
          slot.appendChild(err.unavailable ? Chattu.unavailableNotice('This log') : Chattu.errorNotice(err));
        }
        if (ctx.isCurrent() && tab === id) Chattu.clear(panel).appendChild(slot);
      }
      await show(tab);
    },
  };
})();
