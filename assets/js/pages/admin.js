// Admin: users (create, disable, plan) and the security-event log.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, seg, field, toast, errorText } = Chattu;

  function createForm(onDone) {
    const name = h('input', { id: 'new-user', name: 'username', required: true, autocomplete: 'off', dir: 'auto' });
    const password = h('input', { id: 'new-password', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
    const role = h('select', { id: 'new-role', name: 'role' }, h('option', { value: 'user' }, 'user'), h('option', { value: 'admin' }, 'admin'));
    const result = h('div', { role: 'status' });
    const form = h(
      'form',
      { class: 'card', 'aria-labelledby': 'new-user-title' },
      h('h2', { id: 'new-user-title' }, 'Create a user'),
      h(
        'div',
        { class: 'grid-3' },
        h('label', { for: 'new-user' }, 'Username', name),
        h('label', { for: 'new-password' }, 'Password', password),
        h('label', { for: 'new-role' }, 'Role', role)
      ),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, 'Create user')),
      result
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      Chattu.clear(result);
      try {
        const data = await api('POST', '/api/admin/users', { username: name.value.trim(), password: password.value, role: role.value });
        result.appendChild(h('p', { class: 'notice ok', dir: 'auto' }, 'Created ' + name.value.trim() + (data && data.apiKey ? '. API key: ' + data.apiKey : '.')));
        form.reset();
        onDone();
      } catch (err) {
        result.appendChild(Chattu.errorNotice(err));
      }
    });
    return form;
  }

  function userActions(user, reload) {
    const username = String(user.username || '');
    const disabled = !!field(user, 'disabled', 'isDisabled');
    const toggle = h('button', { type: 'button', class: 'btn btn-small ' + (disabled ? '' : 'btn-ghost') }, disabled ? 'Enable' : 'Disable');
    toggle.setAttribute('aria-label', (disabled ? 'Enable ' : 'Disable ') + username);
    toggle.addEventListener('click', async () => {
      try {
        await api('POST', '/api/admin/users/' + seg(username) + '/disable', { disabled: !disabled });
        reload();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    });
    const plan = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': 'Change plan of ' + username }, 'Plan…');
    plan.addEventListener('click', async () => {
      const answer = await Chattu.askDialog('Plan for ' + username, 'How many WhatsApp numbers may this user add?', [
        { name: 'maxClients', label: 'Maximum clients', type: 'number', value: String(field(user, 'maxClients', 'max_clients') ?? '') },
      ]);
      if (!answer) return;
      const maxClients = Number.parseInt(answer.maxClients, 10);
      if (!Number.isFinite(maxClients) || maxClients < 0) return toast('Enter a whole number', 'error');
      try {
        await api('POST', '/api/admin/users/' + seg(username) + '/plan', { maxClients });
        reload();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    });
    // An admin locking themselves out is never what they meant.
    const self = Chattu.profile && Chattu.profile.username === username;
    return h('span', { class: 'row-actions' }, self ? null : toggle, plan);
  }

  Chattu.pages.admin = {
    title: 'Admin',
    async render(root, ctx) {
      root.appendChild(Chattu.pageHeader('Administration'));
      if (!ctx.profile || ctx.profile.role !== 'admin') {
        root.appendChild(h('p', { class: 'notice error', role: 'alert' }, 'Only administrators can open this page.'));
        return;
      }
      const users = h('section', { class: 'card', 'aria-labelledby': 'users-title' }, h('h2', { id: 'users-title' }, 'Users'));
      const events = h('section', { class: 'card', 'aria-labelledby': 'events-title' }, h('h2', { id: 'events-title' }, 'Security events'));
      const usersBody = h('div', {});
      const eventsBody = h('div', {});
      users.appendChild(usersBody);
      events.appendChild(eventsBody);

      async function loadUsers() {
        try {
          const rows = Chattu.pickArray(await api('GET', '/api/admin/users'), 'users');
          if (!ctx.isCurrent()) return;
          Chattu.clear(usersBody).appendChild(
            Chattu.table(
              rows,
              [
                { label: 'User', auto: true, get: (r) => String(r.username || '') },
                { label: 'Role', get: (r) => String(r.role || '') },
                { label: 'State', get: (r) => (field(r, 'disabled', 'isDisabled') ? h('span', { class: 'badge badge-bad' }, 'disabled') : h('span', { class: 'badge badge-ok' }, 'active')) },
                { label: 'Clients', get: (r) => String(field(r, 'clientCount', 'client_count') ?? '') + ' / ' + String(field(r, 'maxClients', 'max_clients') ?? '∞') },
                { label: 'Created', get: (r) => Chattu.formatShort(field(r, 'createdAt', 'created_at')) },
                { label: '', get: (r) => userActions(r, loadUsers) },
              ],
              'No users.',
              'Users'
            )
          );
        } catch (err) {
          Chattu.clear(usersBody).appendChild(err.unavailable ? Chattu.unavailableNotice('User management') : Chattu.errorNotice(err));
        }
      }

      async function loadEvents() {
        try {
          const rows = Chattu.pickArray(await api('GET', '/api/admin/security-events'), 'events');
          if (!ctx.isCurrent()) return;
          Chattu.clear(eventsBody).appendChild(
            Chattu.table(
              rows,
              [
                { label: 'When', get: (r) => Chattu.formatTime(field(r, 'at', 'time', 'timestamp', 'createdAt', 'created_at')) },
                { label: 'Event', get: (r) => String(field(r, 'kind', 'type', 'event') || '') },
                { label: 'IP', get: (r) => h('span', { dir: 'ltr' }, String(field(r, 'ip') || '')) },
                { label: 'User', auto: true, get: (r) => String(field(r, 'username', 'user') || '') },
                { label: 'Detail', auto: true, get: (r) => h('span', { class: 'clip', dir: 'auto' }, String(field(r, 'detail', 'details', 'message') || '')) },
              ],
              'No security events.',
              'Security events'
            )
          );
        } catch (err) {
          Chattu.clear(eventsBody).appendChild(err.unavailable ? Chattu.unavailableNotice('The security-event log') : Chattu.errorNotice(err));
        }
      }

      root.append(createForm(loadUsers), users, events);
      await Promise.all([loadUsers(), loadEvents()]);
    },
  };
})();
