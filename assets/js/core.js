// Chattu dashboard core: DOM building, the API client, toasts, dialogs and small formatters.
// Every piece of text that came from a user or the server goes into the page through text nodes
// (h() turns strings into text nodes and never touches innerHTML), so message bodies cannot inject markup.
'use strict';

(function () {
  const Chattu = (window.Chattu = window.Chattu || {});
  Chattu.pages = Chattu.pages || {};

  // h('div', {class: 'x', onclick: fn, dir: 'auto'}, 'text', child, [more, children])
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'class') {
        el.className = value;
      } else if (key === 'dataset') {
        Object.assign(el.dataset, value);
      } else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'selected') {
        el[key] = value;
      } else if (value === true) {
        el.setAttribute(key, '');
      } else {
        el.setAttribute(key, String(value));
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else if (child instanceof Node) el.appendChild(child);
      else el.appendChild(document.createTextNode(String(child)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  // A failed API call: HTTP status, the API's stable code and its human message.
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    // The route does not exist on this server yet (as opposed to a missing client or chat).
    get missingRoute() {
      return this.status === 404 && (this.code === 'ROUTE_NOT_FOUND' || this.code === '' || this.code === 'NOT_FOUND_ROUTE');
    }
    get unavailable() {
      return this.missingRoute || this.status === 405 || this.status === 501;
    }
  }

  // Same-origin JSON request with the session cookie. Resolves to the parsed body (or null when empty).
  async function api(method, path, body, options) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json; charset=utf-8';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, 'NETWORK', 'Cannot reach the Chattu server.');
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        data = null;
      }
    }
    if (!response.ok) {
      const code = (data && data.code) || '';
      const message = (data && (data.error || data.message)) || response.statusText || 'Request failed';
      const error = new ApiError(response.status, code, message);
      // Rate limited: background refreshes pause for as long as the server asks (or a minute).
      if (response.status === 429) {
        const secs = Number.parseInt(response.headers.get('retry-after') || '', 10) || 60;
        Chattu.rateLimitedUntil = Date.now() + secs * 1000;
      }
      if (response.status === 401 && !(options && options.allow401)) Chattu.onUnauthorized();
      throw error;
    }
    return data;
  }

  // Accepts both a bare array and the API's wrapped forms ({messages: [...]}, {users: [...]}, ...).
  function pickArray(data, ...keys) {
    if (Array.isArray(data)) return data;
    if (!data || typeof data !== 'object') return [];
    for (const key of keys) if (Array.isArray(data[key])) return data[key];
    for (const value of Object.values(data)) if (Array.isArray(value)) return value;
    return [];
  }

  // First present value among several candidate field names (the API mixes camelCase and snake_case).
  function field(row, ...keys) {
    for (const key of keys) {
      const value = key.split('.').reduce((obj, part) => (obj == null ? undefined : obj[part]), row);
      if (value !== undefined && value !== null && value !== '') return value;
    }
    return undefined;
  }

  function serialId(id) {
    if (id && typeof id === 'object') return id._serialized || id.id || '';
    return id == null ? '' : String(id);
  }

  // Path segment encoding that keeps '@' readable (it is legal in a path segment: 972...@c.us).
  function seg(value) {
    return encodeURIComponent(String(value)).replace(/%40/g, '@');
  }

  function toDate(value) {
    if (value === undefined || value === null || value === '') return null;
    if (typeof value === 'number') return new Date(value < 1e12 ? value * 1000 : value);
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function formatTime(value, timeZone) {
    const date = toDate(value);
    if (!date) return '';
    const options = { dateStyle: 'medium', timeStyle: 'short' };
    if (timeZone) options.timeZone = timeZone;
    try {
      return new Intl.DateTimeFormat(undefined, options).format(date);
    } catch (err) {
      return date.toISOString();
    }
  }

  function formatShort(value) {
    const date = toDate(value);
    if (!date) return '';
    const now = new Date();
    const sameDay = date.toDateString() === now.toDateString();
    return new Intl.DateTimeFormat(undefined, sameDay ? { timeStyle: 'short' } : { dateStyle: 'short' }).format(date);
  }

  function toast(message, kind) {
    const box = document.getElementById('toasts');
    if (!box) return;
    const item = h('div', { class: 'toast ' + (kind || 'info'), dir: 'auto' }, message);
    box.appendChild(item);
    setTimeout(() => item.remove(), kind === 'error' ? 7000 : 3500);
  }

  function errorText(err) {
    if (err instanceof ApiError) {
      if (err.status === 429) return 'Too many attempts; wait a while and try again.';
      return err.message + (err.code ? ' (' + err.code + ')' : '');
    }
    return String((err && err.message) || err);
  }

  // A banner saying a feature needs a server route that this build does not have yet.
  function unavailableNotice(what) {
    return h('p', { class: 'notice', role: 'note' }, what + ' is not available on this server yet.');
  }

  function errorNotice(err) {
    return h('p', { class: 'notice error', role: 'alert', dir: 'auto' }, errorText(err));
  }

  // Copies text; navigator.clipboard needs a secure context, which a LAN http:// address is not.
  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (err) {
      /* fall back below */
    }
    const area = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (err) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  // A modal form built on <dialog>. fields: [{name, label, type, value, autocomplete}]. Resolves to values or null.
  function askDialog(title, text, fields, confirmLabel, danger) {
    return new Promise((resolve) => {
      const inputs = {};
      const form = h(
        'form',
        { method: 'dialog', class: 'dialog-form' },
        h('h2', {}, title),
        text ? h('p', { dir: 'auto' }, text) : null,
        (fields || []).map((f) => {
          const id = 'dlg-' + f.name;
          inputs[f.name] = h('input', {
            id,
            name: f.name,
            type: f.type || 'text',
            value: f.value || '',
            autocomplete: f.autocomplete || 'off',
            required: f.required !== false,
          });
          return h('label', { for: id }, f.label, inputs[f.name]);
        }),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-ghost', value: 'cancel', onclick: () => finish(null) }, 'Cancel'),
          h('button', { type: 'submit', class: danger ? 'btn btn-danger' : 'btn', value: 'ok' }, confirmLabel || 'OK')
        )
      );
      const dialog = h('dialog', { class: 'dialog', 'aria-label': title }, form);
      let done = false;
      function finish(value) {
        if (done) return;
        done = true;
        dialog.close();
        dialog.remove();
        resolve(value);
      }
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const values = {};
        for (const [name, input] of Object.entries(inputs)) values[name] = input.value;
        finish(values);
      });
      dialog.addEventListener('cancel', () => finish(null));
      document.body.appendChild(dialog);
      dialog.showModal();
    });
  }

  // A table from rows and column specs {label, get(row) -> string|Node}. Empty rows show `empty`.
  function table(rows, columns, empty, caption) {
    if (!rows.length) return h('p', { class: 'muted empty' }, empty || 'Nothing here yet.');
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table' },
        caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
        h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
        h(
          'tbody',
          {},
          rows.map((row) =>
            h(
              'tr',
              {},
              columns.map((c) => {
                const value = c.get(row);
                return h('td', { 'data-label': c.label, dir: c.auto ? 'auto' : null }, value === undefined ? '' : value);
              })
            )
          )
        )
      )
    );
  }

  // The user's clients, cached for the page's lifetime and refreshed on demand.
  // Pages other than Clients accept a list up to 30 s old: the API limiter counts every request.
  let clientsCache = null;
  let clientsAt = 0;
  async function clients(refresh) {
    if (!clientsCache || refresh || Date.now() - clientsAt > 30000) {
      clientsCache = pickArray(await api('GET', '/api/clients'), 'clients');
      clientsAt = Date.now();
    }
    return clientsCache;
  }

  // A <select> of the user's clients that remembers the choice across pages.
  function clientPicker(list, onChange, id) {
    const stored = localStorage.getItem('chattu.client');
    const select = h(
      'select',
      { id: id || 'client-picker', 'aria-label': 'WhatsApp client' },
      list.map((c) =>
        h('option', { value: c.clientId, selected: c.clientId === stored }, c.clientId + (c.phoneNumber ? ' · ' + c.phoneNumber : ''))
      )
    );
    select.addEventListener('change', () => {
      localStorage.setItem('chattu.client', select.value);
      onChange(select.value);
    });
    return select;
  }

  function pageHeader(title, ...extra) {
    return h('div', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'page-tools' }, extra));
  }

  Object.assign(Chattu, {
    h,
    append,
    clear,
    api,
    ApiError,
    pickArray,
    field,
    serialId,
    seg,
    toDate,
    formatTime,
    formatShort,
    toast,
    errorText,
    errorNotice,
    unavailableNotice,
    copyText,
    askDialog,
    table,
    clients,
    clientPicker,
    pageHeader,
    onUnauthorized() {},
  });
})();
