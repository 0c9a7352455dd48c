// Scheduled messages: the time is typed as a wall-clock time in a chosen zone (the browser's by default)
// and sent to the API as the matching UTC instant; the list shows both.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, field, toast, errorText } = Chattu;
  const tz = Chattu.tz;

  const COMMON_ZONES = ['Asia/Jerusalem', 'UTC', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Asia/Dubai', 'Asia/Kolkata'];

  function zoneSelect(selected) {
    const browser = tz.browserZone();
    const top = [...new Set([browser, ...COMMON_ZONES])];
    let all = [];
    try {
      all = Intl.supportedValuesOf('timeZone').filter((z) => !top.includes(z));
    } catch (err) {
      all = [];
    }
    return h(
      'select',
      { id: 'sched-zone', name: 'zone' },
      h('optgroup', { label: 'Common' }, top.map((z) => h('option', { value: z, selected: z === selected }, z === browser ? z + ' (this browser)' : z))),
      all.length ? h('optgroup', { label: 'All zones' }, all.map((z) => h('option', { value: z, selected: z === selected }, z))) : null
    );
  }

  Chattu.pages.scheduled = {
    title: 'Scheduled',
    async render(root, ctx) {
      const clients = await Chattu.clients();
      const stored = localStorage.getItem('chattu.zone');
      let zone = stored && tz.isValidZone(stored) ? stored : tz.browserZone();

      const picker = Chattu.clientPicker(clients, () => {}, 'sched-client');
      const number = h('input', { id: 'sched-number', name: 'number', required: true, inputmode: 'tel', placeholder: '972501234567', dir: 'ltr', autocomplete: 'off' });
      const message = h('textarea', { id: 'sched-message', name: 'message', required: true, rows: 3, dir: 'auto' });
      const when = h('input', { id: 'sched-when', name: 'when', type: 'datetime-local', required: true });
      const zones = zoneSelect(zone);
      const preview = h('p', { class: 'muted small', id: 'sched-preview', role: 'status', 'aria-live': 'polite' });
      const submit = h('button', { type: 'submit', class: 'btn', disabled: !clients.length }, 'Schedule');
      when.value = tz.toLocalInput(Date.now() + 10 * 60000, zone);

      function computed() {
        const wall = tz.parseLocalInput(when.value);
        if (!wall) return null;
        return tz.wallToUtc(wall, zone);
      }

      function updatePreview() {
        const result = computed();
        if (!result) {
          preview.textContent = 'Pick a date and time.';
          return;
        }
        let text = 'Sends at ' + tz.isoUtc(result.utcMs) + ' (UTC), ' + tz.offsetLabel(result.utcMs, zone) + ' in ' + zone + '.';
        if (result.status === 'skipped') text += ' That time does not exist there (clocks go forward); it was moved to ' + tz.toLocalInput(result.utcMs, zone).replace('T', ' ') + '.';
        if (result.status === 'ambiguous') text += ' That time happens twice there (clocks go back); the first one is used.';
        if (result.utcMs < Date.now()) text += ' This is in the past.';
        preview.textContent = text;
      }
      when.addEventListener('input', updatePreview);
      zones.addEventListener('change', () => {
        zone = zones.value;
        localStorage.setItem('chattu.zone', zone);
        updatePreview();
        reload();
      });
      updatePreview();

      const form = h(
        'form',
        { class: 'card', 'aria-labelledby': 'sched-title' },
        h('h2', { id: 'sched-title' }, 'Schedule a message'),
        clients.length ? null : h('p', { class: 'notice' }, 'Add a number on the Clients page first.'),
        h(
          'div',
          { class: 'grid-2' },
          h('label', { for: 'sched-client' }, 'From client', picker),
          h('label', { for: 'sched-number' }, 'To number (with country code)', number),
          h('label', { for: 'sched-when' }, 'Date and time', when),
          h('label', { for: 'sched-zone' }, 'Time zone', zones)
        ),
        h('label', { for: 'sched-message' }, 'Message', message),
        preview,
        h('div', { class: 'actions' }, submit)
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const result = computed();
        if (!result) return;
        submit.disabled = true;
        try {
          await api('POST', '/schedule-message', {
            clientId: picker.value,
            number: number.value.trim(),
            message: message.value,
            scheduleTime: tz.isoUtc(result.utcMs),
          });
          toast('Scheduled for ' + tz.toLocalInput(result.utcMs, zone).replace('T', ' ') + ' ' + zone, 'ok');
          message.value = '';
          await reload();
        } catch (err) {
          toast(errorText(err), 'error');
        } finally {
          submit.disabled = false;
        }
      });

      const listSlot = h('div', { class: 'card' }, h('h2', {}, 'Scheduled messages'), h('p', { class: 'muted' }, 'Loading…'));
      root.append(Chattu.pageHeader('Scheduled messages'), form, listSlot);

      async function cancel(row) {
        try {
          const data = await api('DELETE', '/scheduled-messages/' + encodeURIComponent(row.id));
          toast((data && data.message) || 'Schedule cancelled.', 'ok');
          reload();
        } catch (err) {
          toast(errorText(err), 'error');
        }
      }

      async function reload() {
        let rows;
        try {
          rows = Chattu.pickArray(await api('GET', '/scheduled-messages'), 'scheduled', 'messages');
        } catch (err) {
          if (!ctx.isCurrent()) return;
          Chattu.clear(listSlot).append(h('h2', {}, 'Scheduled messages'), err.unavailable ? Chattu.unavailableNotice('Scheduling') : Chattu.errorNotice(err));
          return;
        }
        if (!ctx.isCurrent()) return;
        rows.sort((a, b) => String(b.scheduleTime).localeCompare(String(a.scheduleTime)));
        Chattu.clear(listSlot).append(
          h('h2', {}, 'Scheduled messages'),
          Chattu.table(
            rows,
            [
              { label: 'When (' + zone + ')', get: (r) => h('span', { title: String(r.scheduleTime) }, Chattu.formatTime(r.scheduleTime, zone)) },
              { label: 'UTC', get: (r) => h('code', { class: 'utc' }, String(r.scheduleTime || '')) },
              { label: 'Client', get: (r) => field(r, 'clientId', 'client_id') || '' },
              { label: 'To', get: (r) => h('span', { dir: 'ltr' }, String(field(r, 'recipient', 'number') || '')) },
              { label: 'Message', auto: true, get: (r) => h('span', { class: 'clip', dir: 'auto' }, String(r.message || '')) },
              { label: 'Status', get: (r) => h('span', { class: 'badge badge-' + (r.status === 'sent' ? 'ok' : r.status === 'pending' ? 'pending' : 'unknown') }, String(r.status || '')) },
              {
                label: '',
                get: (r) =>
                  r.status === 'pending'
                    ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': 'Cancel scheduled message ' + r.id, onclick: () => cancel(r) }, 'Cancel')
                    : r.sentTime
                      ? Chattu.formatShort(r.sentTime)
                      : '',
              },
            ],
            'Nothing scheduled.',
            'Scheduled messages'
          )
        );
      }
      await reload();
      Chattu.live.poll(reload, 15000, { always: true });
    },
  };
})();
