// Groups and channels of one client; sending through the session route, disabled for read-only ones.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, seg, serialId, errorText } = Chattu;

  Chattu.pages.groups = {
    title: 'Groups',
    async render(root, ctx) {
      const clients = await Chattu.clients();
      if (!clients.length) {
        root.append(Chattu.pageHeader('Groups & channels'), h('p', { class: 'muted empty' }, 'Add a number on the ', h('a', { href: '/clients' }, 'Clients'), ' page first.'));
        return;
      }
      let clientId = localStorage.getItem('chattu.client') || clients[0].clientId;
      if (!clients.some((c) => c.clientId === clientId)) clientId = clients[0].clientId;
      let openId = null;
      // Once the server says the route does not exist, polling it again only adds failed requests.
      let unavailable = false;
      let conv = null;
      const status = h('p', { class: 'muted small', role: 'status' });
      const groupList = h('ul', { class: 'chat-list', 'aria-label': 'Groups' });
      const channelList = h('ul', { class: 'chat-list', 'aria-label': 'Channels' });
      const side = h(
        'aside',
        { class: 'chat-side-pane' },
        status,
        h('h2', { class: 'list-title' }, 'Groups'),
        groupList,
        h('h2', { class: 'list-title' }, 'Channels'),
        channelList
      );
      const convSlot = h('div', { class: 'conv-slot' }, h('p', { class: 'muted empty center' }, 'Choose a group or channel.'));
      const layout = h('div', { class: 'chat-layout' }, side, convSlot);
      const picker = Chattu.clientPicker(clients, (id) => {
        clientId = id;
        openId = null;
        layout.classList.remove('show-conv');
        load();
      });
      picker.value = clientId;
      root.append(Chattu.pageHeader('Groups & channels', h('label', { class: 'inline-label', for: picker.id }, 'Client'), picker), layout);

      function fill(list, items, emptyText) {
        Chattu.clear(list);
        if (!items.length) list.appendChild(h('li', { class: 'muted small empty' }, emptyText));
        for (const item of items) {
          const row = Chattu.chatRow(item, serialId(item.id) === openId, open);
          if (item.isReadOnly) row.firstChild.appendChild(h('span', { class: 'badge badge-unknown', title: 'Read-only' }, 'read-only'));
          list.appendChild(row);
        }
      }

      async function load() {
        let data;
        try {
          data = await api('GET', '/api/groups/' + seg(clientId));
        } catch (err) {
          if (!ctx.isCurrent()) return;
          unavailable = err.unavailable;
          status.textContent = err.unavailable ? 'Groups and channels are not available on this server yet.' : errorText(err);
          status.className = 'notice' + (err.unavailable ? '' : ' error');
          for (const el of side.querySelectorAll('.list-title, .chat-list')) el.hidden = true;
          return;
        }
        if (!ctx.isCurrent()) return;
        status.textContent = '';
        status.className = 'muted small';
        for (const el of side.querySelectorAll('.list-title, .chat-list')) el.hidden = false;
        fill(groupList, Chattu.pickArray(data && data.groups), 'No groups.');
        fill(channelList, Chattu.pickArray(data && data.channels), 'No channels.');
      }

      function open(item) {
        openId = serialId(item.id);
        const readOnly = !!item.isReadOnly;
        conv = Chattu.conversation({
          clientId,
          chatId: openId,
          title: item.name || openId,
          readOnly,
          sendPath: '/api/groups/' + seg(clientId) + '/' + seg(openId) + '/send',
          markRead: false,
          onBack: () => layout.classList.remove('show-conv'),
        });
        const facts = h(
          'dl',
          { class: 'facts' },
          item.description ? [h('dt', {}, 'Description'), h('dd', { dir: 'auto' }, item.description)] : null,
          item.participants !== undefined ? [h('dt', {}, 'Participants'), h('dd', {}, String(item.participants))] : null,
          item.owner ? [h('dt', {}, 'Owner'), h('dd', { dir: 'ltr' }, String(item.owner))] : null,
          [h('dt', {}, 'Type'), h('dd', {}, (item.type || 'group') + (readOnly ? ' · read-only' : ''))],
          [h('dt', {}, 'ID'), h('dd', { dir: 'ltr' }, openId)]
        );
        conv.el.insertBefore(facts, conv.el.children[1]);
        Chattu.clear(convSlot).appendChild(conv.el);
        layout.classList.add('show-conv');
        conv.load();
        load();
      }

      await load();
      Chattu.live.on((event) => {
        if (event.clientId && event.clientId !== clientId) return;
        if (/group|channel|message/i.test(event.type)) {
          load();
          if (conv) conv.load();
        }
      });
      Chattu.live.poll(async () => {
        if (unavailable) return;
        await load();
        if (conv) await conv.load();
      }, 10000);
    },
  };
})();
