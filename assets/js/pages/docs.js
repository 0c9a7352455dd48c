// API documentation: drawn from /assets/api-docs.json (generated from the API contract by
// tests/browser/gen-api-docs.mjs), with a sidebar, Ctrl+K search and click-to-copy examples.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, toast } = Chattu;
  let docsCache = null;

  async function loadDocs() {
    if (docsCache) return docsCache;
    const meta = document.querySelector('meta[name="chattu-api-docs"]');
    const url = (meta && meta.getAttribute('content')) || '/assets/api-docs.json';
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) throw new Error('Could not load the API documentation (' + response.status + ')');
    docsCache = await response.json();
    return docsCache;
  }

  function methodBadge(method) {
    return h('span', { class: 'method method-' + method.toLowerCase() }, method);
  }

  function codeBlock(block) {
    const pre = h('pre', { class: 'code lang-' + block.lang, tabindex: '0', role: 'button', 'aria-label': 'Copy example' + (block.label ? ': ' + block.label : ''), title: 'Click to copy' }, h('code', {}, block.text));
    async function copy() {
      const ok = await Chattu.copyText(block.text);
      pre.classList.add(ok ? 'copied' : 'copy-failed');
      setTimeout(() => pre.classList.remove('copied', 'copy-failed'), 1200);
      toast(ok ? 'Example copied' : 'Copy failed: select the text instead', ok ? 'ok' : 'error');
    }
    pre.addEventListener('click', () => {
      if (String(window.getSelection && window.getSelection()).length) return;
      copy();
    });
    pre.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        copy();
      }
    });
    return h('figure', { class: 'code-figure' }, block.label ? h('figcaption', {}, block.label, h('span', { class: 'copy-hint' }, 'click to copy')) : null, pre);
  }

  function listItems(items) {
    return h('ul', {}, items.map((item) => h('li', { dir: 'auto' }, item.text, item.children.length ? listItems(item.children) : null)));
  }

  function blockEl(block) {
    switch (block.t) {
      case 'h':
        return h('h3', {}, block.text);
      case 'note':
        return h('p', { class: 'callout' + (/Warning/.test(block.label) ? ' warn' : ''), dir: 'auto' }, h('strong', {}, block.label + ': '), block.text);
      case 'list':
        return listItems(block.items);
      case 'code':
        return codeBlock(block);
      default:
        return h('p', { dir: 'auto' }, block.text);
    }
  }

  function sectionEl(section) {
    const title = section.kind === 'endpoint' ? h('h2', { class: 'endpoint-title' }, methodBadge(section.method), h('code', {}, section.path)) : h('h2', {}, section.title);
    return h('section', { class: 'doc-section card', id: section.id, 'aria-label': section.title }, title, section.blocks.map(blockEl));
  }

  function searchText(section) {
    const parts = [section.title, section.group];
    const walk = (blocks) => {
      for (const b of blocks) {
        if (b.text) parts.push(b.text);
        if (b.label) parts.push(b.label);
        if (b.items) walk(b.items.map((item) => ({ text: item.text, items: item.children })));
      }
    };
    walk(section.blocks);
    return parts.join(' ').toLowerCase();
  }

  // The Ctrl+K palette: type to filter, arrows to move, Enter to jump.
  function searchDialog(sections, jump) {
    const index = sections.map((s) => ({ section: s, text: searchText(s) }));
    const input = h('input', { type: 'search', id: 'docs-search', placeholder: 'Search endpoints, fields, errors…', autocomplete: 'off', 'aria-label': 'Search the API documentation', 'aria-controls': 'docs-results' });
    const results = h('ul', { class: 'search-results', id: 'docs-results', role: 'listbox', 'aria-label': 'Matching sections' });
    const dialog = h('dialog', { class: 'dialog search-dialog', 'aria-label': 'Search the API documentation' }, input, results);
    let matches = [];
    let active = 0;

    function paint() {
      Chattu.clear(results);
      matches.forEach((s, n) => {
        const item = h(
          'li',
          { role: 'option', id: 'result-' + n, 'aria-selected': String(n === active), class: n === active ? 'active' : null },
          s.kind === 'endpoint' ? methodBadge(s.method) : h('span', { class: 'method' }, '§'),
          ' ',
          h('span', { class: 'result-title' }, s.kind === 'endpoint' ? s.path : s.title),
          h('span', { class: 'result-summary muted small', dir: 'auto' }, s.summary || '')
        );
        item.addEventListener('click', () => choose(n));
        results.appendChild(item);
      });
      if (!matches.length) results.appendChild(h('li', { class: 'muted', role: 'option', 'aria-disabled': 'true' }, 'No match.'));
      input.setAttribute('aria-activedescendant', matches.length ? 'result-' + active : '');
      const current = results.children[active];
      if (current && current.scrollIntoView) current.scrollIntoView({ block: 'nearest' });
    }

    function update() {
      const terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      matches = index.filter((entry) => terms.every((t) => entry.text.includes(t))).map((entry) => entry.section);
      // Titles that match rank first.
      matches.sort((a, b) => Number(terms.every((t) => b.title.toLowerCase().includes(t))) - Number(terms.every((t) => a.title.toLowerCase().includes(t))));
      active = 0;
      paint();
    }

    function choose(n) {
      const s = matches[n];
      dialog.close();
      if (s) jump(s.id);
    }

    input.addEventListener('input', update);
    input.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowDown') active = Math.min(active + 1, Math.max(matches.length - 1, 0));
      else if (event.key === 'ArrowUp') active = Math.max(active - 1, 0);
      else if (event.key === 'Enter') return event.preventDefault(), choose(active);
      else return;
      event.preventDefault();
      paint();
    });
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close();
    });
    document.body.appendChild(dialog);
    return {
      open() {
        if (!dialog.open) dialog.showModal();
        input.select();
        update();
      },
      remove() {
        dialog.remove();
      },
    };
  }

  Chattu.pages.docs = {
    title: 'API documentation',
    public: true,
    async render(root, ctx) {
      const docs = await loadDocs();
      const sections = docs.sections;
      const content = h('div', { class: 'docs-content' }, h('div', { class: 'card docs-intro' }, h('h1', {}, docs.title), docs.intro.map(blockEl)), sections.map(sectionEl));
      const nav = h('nav', { class: 'docs-nav', 'aria-label': 'API sections' });
      let group = null;
      let list = null;
      for (const s of sections) {
        if (s.group !== group) {
          group = s.group;
          list = h('ul', {});
          nav.append(h('h2', { class: 'list-title' }, group), list);
        }
        list.appendChild(h('li', {}, h('a', { href: '#' + s.id }, s.kind === 'endpoint' ? [methodBadge(s.method), h('span', {}, s.path)] : s.title)));
      }
      function jump(id) {
        const target = document.getElementById(id);
        if (!target) return;
        history.replaceState(null, '', '/docs#' + id);
        target.scrollIntoView({ block: 'start' });
        target.classList.add('flash');
        setTimeout(() => target.classList.remove('flash'), 1200);
        target.setAttribute('tabindex', '-1');
        target.focus({ preventScroll: true });
      }
      nav.addEventListener('click', (event) => {
        const link = event.target.closest('a[href^="#"]');
        if (!link) return;
        event.preventDefault();
        jump(link.getAttribute('href').slice(1));
      });
      const search = searchDialog(sections, jump);
      const searchButton = h('button', { type: 'button', class: 'btn btn-ghost search-button', 'aria-keyshortcuts': 'Control+K' }, 'Search', h('kbd', {}, 'Ctrl K'));
      searchButton.addEventListener('click', () => search.open());
      function onKey(event) {
        if (!ctx.isCurrent()) {
          document.removeEventListener('keydown', onKey);
          search.remove();
          return;
        }
        if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'k') {
          event.preventDefault();
          search.open();
        }
      }
      document.addEventListener('keydown', onKey);
      root.append(
        Chattu.pageHeader('API documentation', searchButton, Chattu.profile ? null : h('a', { class: 'btn btn-ghost', href: '/login' }, 'Log in')),
        h('div', { class: 'docs-layout' }, nav, content)
      );
      if (location.hash) jump(location.hash.slice(1));
    },
  };
})();
