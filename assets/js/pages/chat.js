// Chat: the chat list of one client and a conversation with media, reactions, ack ticks and a send box.
// The conversation part (Chattu.conversation) is shared with the groups page.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, seg, field, serialId, toast, errorText } = Chattu;

  const ACKS = { '-1': ['!', 'failed'], 0: ['🕓', 'pending'], 1: ['✓', 'sent'], 2: ['✓✓', 'delivered'], 3: ['✓✓', 'read'], 4: ['✓✓', 'played'] };

  function ackMark(ack) {
    const [mark, label] = ACKS[Math.max(-1, Math.min(4, Number(ack) || 0))] || ACKS[0];
    return h('span', { class: 'ack ack-' + label, title: label, 'aria-label': label }, mark);
  }

  function mediaFor(clientId, msg) {
    const id = serialId(msg.id);
    const src = '/api/chats/' + seg(clientId) + '/media/' + seg(id);
    const type = String(msg.type || '').toLowerCase();
    const name = msg.filename || type || 'file';
    if (type === 'image' || type === 'sticker') return h('img', { class: 'media', src, alt: msg.body || 'Image', loading: 'lazy' });
    if (type === 'video' || type === 'gif') return h('video', { class: 'media', src, controls: true, preload: 'metadata', 'aria-label': 'Video' });
    if (type === 'audio' || type === 'ptt' || type === 'voice') return h('audio', { src, controls: true, preload: 'none', 'aria-label': 'Audio message' });
    return h('a', { class: 'media-file', href: src, download: name, dir: 'auto' }, '📄 ' + name);
  }

  function bubble(clientId, msg) {
    const fromMe = !!msg.fromMe;
    const reactions = Array.isArray(msg.reactions) ? msg.reactions : [];
    const caption = msg.body && !(msg.hasMedia && msg.body === msg.filename) ? msg.body : '';
    return h(
      'li',
      { class: 'msg ' + (fromMe ? 'from-me' : 'from-them'), 'data-id': serialId(msg.id) },
      !fromMe && msg.author ? h('span', { class: 'msg-author', dir: 'auto' }, String(msg.author)) : null,
      msg.hasMedia ? mediaFor(clientId, msg) : null,
      caption ? h('p', { class: 'msg-body', dir: 'auto' }, caption) : null,
      h('span', { class: 'msg-meta' }, Chattu.formatShort(msg.timestamp), fromMe ? ackMark(msg.ack) : null),
      reactions.length
        ? h(
            'span',
            { class: 'reactions', 'aria-label': 'Reactions' },
            reactions.map((r) => h('span', { class: 'reaction', title: String(r.senderId || '') }, String(r.reaction || '')))
          )
        : null
    );
  }

  // A conversation pane: messages (keyed, so media elements survive refreshes) and a send box.
  // opts: {clientId, chatId, title, readOnly, sendPath, markRead, onBack}
  function conversation(opts) {
    const list = h('ol', { class: 'messages', 'aria-label': 'Messages', 'aria-live': 'polite' });
    const status = h('p', { class: 'muted small', role: 'status' });
    const input = h('textarea', { id: 'compose', rows: 1, dir: 'auto', placeholder: opts.readOnly ? 'Only admins can send here' : 'Type a message', disabled: !!opts.readOnly, 'aria-label': 'Message' });
    const send = h('button', { type: 'submit', class: 'btn', disabled: !!opts.readOnly }, 'Send');
    const readBtn = opts.markRead ? h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Mark as read') : null;
    const back = h('button', { type: 'button', class: 'btn btn-small btn-ghost back-btn', 'aria-label': 'Back to the list' }, '←');
    const form = h('form', { class: 'composer' }, input, send);
    const pane = h(
      'section',
      { class: 'conversation', 'aria-label': 'Conversation with ' + opts.title },
      h('header', { class: 'conv-head' }, back, h('h2', { dir: 'auto' }, opts.title), readBtn),
      opts.readOnly ? h('p', { class: 'notice', role: 'note' }, 'This chat is read-only: sending is disabled.') : null,
      status,
      list,
      form
    );
    const rendered = new Map();
    back.addEventListener('click', () => opts.onBack && opts.onBack());

    async function load() {
      let data;
      try {
        data = await api('GET', '/api/chats/' + seg(opts.clientId) + '/' + seg(opts.chatId) + '/messages?limit=50');
      } catch (err) {
        status.textContent = err.unavailable ? 'Message history is not available on this server yet.' : errorText(err);
        return;
      }
      status.textContent = '';
      const messages = Chattu.pickArray(data, 'messages');
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      const keep = new Set();
      let previous = null;
      for (const msg of messages) {
        const id = serialId(msg.id) || JSON.stringify(msg);
        const signature = JSON.stringify(msg);
        let entry = rendered.get(id);
        if (!entry || entry.signature !== signature) {
          const el = bubble(opts.clientId, msg);
          if (entry) entry.el.replaceWith(el);
          entry = { el, signature };
          rendered.set(id, entry);
        }
        keep.add(id);
        const expected = previous ? previous.nextSibling : list.firstChild;
        if (expected !== entry.el) list.insertBefore(entry.el, expected);
        previous = entry.el;
      }
      for (const [id, entry] of rendered) {
        if (!keep.has(id)) {
          entry.el.remove();
          rendered.delete(id);
        }
      }
      if (!messages.length) status.textContent = 'No messages yet.';
      if (nearBottom || !pane.dataset.loaded) list.scrollTop = list.scrollHeight;
      pane.dataset.loaded = '1';
    }

    async function markRead() {
      try {
        await api('POST', '/api/chats/' + seg(opts.clientId) + '/' + seg(opts.chatId) + '/read', {});
        if (opts.onRead) opts.onRead();
      } catch (err) {
        if (!err.unavailable) toast(errorText(err), 'error');
      }
    }
    if (readBtn) readBtn.addEventListener('click', markRead);

    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || opts.readOnly) return;
      send.disabled = true;
      try {
        await api('POST', opts.sendPath, { message: text });
        input.value = '';
        await load();
        list.scrollTop = list.scrollHeight;
      } catch (err) {
        toast(errorText(err), 'error');
      } finally {
        send.disabled = !!opts.readOnly;
        input.focus();
      }
    });

    return { el: pane, load, markRead };
  }

  function chatRow(chat, active, onOpen) {
    const id = serialId(chat.id);
    const last = chat.lastMessage || {};
    const unread = Number(chat.unreadCount) || 0;
    return h(
      'li',
      {},
      h(
        'button',
        { type: 'button', class: 'chat-row' + (active ? ' active' : ''), 'aria-current': active ? 'true' : null, onclick: () => onOpen(chat) },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, String(chat.name || id).trim().slice(0, 1).toUpperCase() || '?'),
        h(
          'span',
          { class: 'chat-main' },
          h('span', { class: 'chat-name', dir: 'auto' }, chat.name || id.replace(/@.*/, '')),
          h('span', { class: 'chat-last', dir: 'auto' }, (last.fromMe ? 'You: ' : '') + (last.body || ''))
        ),
        h(
          'span',
          { class: 'chat-side' },
          h('span', { class: 'muted small' }, Chattu.formatShort(chat.timestamp || last.timestamp)),
          unread ? h('span', { class: 'unread', 'aria-label': unread + ' unread' }, String(unread)) : null
        )
      )
    );
  }

  Chattu.conversation = conversation;
  Chattu.chatRow = chatRow;

  Chattu.pages.chat = {
    title: 'Chat',
    async render(root, ctx) {
      const clients = await Chattu.clients();
      if (!clients.length) {
        root.append(Chattu.pageHeader('Chat'), h('p', { class: 'muted empty' }, 'Add a number on the ', h('a', { href: '/clients' }, 'Clients'), ' page first.'));
        return;
      }
      const params = new URLSearchParams(location.search);
      let clientId = params.get('client') || localStorage.getItem('chattu.client') || clients[0].clientId;
      if (!clients.some((c) => c.clientId === clientId)) clientId = clients[0].clientId;
      let openChat = null;
      let conv = null;
      const chatList = h('ul', { class: 'chat-list', 'aria-label': 'Chats' });
      const listStatus = h('p', { class: 'muted small', role: 'status' });
      const side = h('aside', { class: 'chat-side-pane' }, listStatus, chatList);
      const convSlot = h('div', { class: 'conv-slot' }, h('p', { class: 'muted empty center' }, 'Choose a chat.'));
      const layout = h('div', { class: 'chat-layout' }, side, convSlot);
      const picker = Chattu.clientPicker(clients, (id) => {
        clientId = id;
        openChat = null;
        showList();
        loadChats();
      });
      picker.value = clientId;
      root.append(Chattu.pageHeader('Chat', h('label', { class: 'inline-label', for: picker.id }, 'Client'), picker), layout);

      function syncUrl() {
        const q = new URLSearchParams({ client: clientId });
        if (openChat) q.set('chat', openChat);
        history.replaceState(null, '', '/chat?' + q.toString());
      }

      function showList() {
        layout.classList.remove('show-conv');
        syncUrl();
      }

      let chats = [];
      // Once the server says the route does not exist, polling it again only adds failed requests.
      let unavailable = false;
      async function loadChats() {
        try {
          const data = await api('GET', '/api/chats/' + seg(clientId));
          if (!ctx.isCurrent()) return;
          chats = Chattu.pickArray(data, 'chats');
          listStatus.className = 'muted small';
          listStatus.textContent = chats.length ? '' : 'No chats yet.';
        } catch (err) {
          chats = [];
          unavailable = err.unavailable;
          listStatus.textContent = err.unavailable ? 'Chats are not available on this server yet.' : errorText(err);
          listStatus.className = 'notice' + (err.unavailable ? '' : ' error');
        }
        Chattu.clear(chatList);
        for (const chat of chats) chatList.appendChild(chatRow(chat, serialId(chat.id) === openChat, open));
      }

      function open(chat) {
        openChat = serialId(chat.id);
        conv = conversation({
          clientId,
          chatId: openChat,
          title: chat.name || openChat,
          sendPath: '/api/chats/' + seg(clientId) + '/' + seg(openChat) + '/send',
          markRead: true,
          onBack: showList,
          onRead: loadChats,
        });
        Chattu.clear(convSlot).appendChild(conv.el);
        layout.classList.add('show-conv');
        syncUrl();
        conv.load();
        if (Number(chat.unreadCount) > 0) conv.markRead();
        else loadChats();
      }

      await loadChats();
      const wanted = params.get('chat');
      const initial = wanted && chats.find((c) => serialId(c.id) === wanted);
      if (initial) open(initial);
      else if (wanted) open({ id: wanted, name: wanted });

      Chattu.live.on((event) => {
        if (event.clientId && event.clientId !== clientId) return;
        if (/message|ack|reaction|chat|read/i.test(event.type)) {
          loadChats();
          const chatId = serialId(event.chatId || event.from || event.to || '');
          if (conv && (!chatId || chatId === openChat || chatId.replace(/@.*/, '') === openChat.replace(/@.*/, ''))) conv.load();
        }
      });
      Chattu.live.poll(async () => {
        if (unavailable) return;
        await loadChats();
        if (conv) await conv.load();
      }, 5000);
    },
  };
})();
