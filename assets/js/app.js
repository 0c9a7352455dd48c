// Boot and client-side routing: every page path serves the same shell; this picks the page to draw.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, clear, api } = Chattu;

  const ROUTES = {
    '/': 'clients',
    '/clients': 'clients',
    '/login': 'login',
    '/chat': 'chat',
    '/groups': 'groups',
    '/scheduled': 'scheduled',
    '/logs': 'logs',
    '/profile': 'profile',
    '/admin': 'admin',
    '/docs': 'docs',
  };

  const NAV = [
    ['/clients', 'Clients'],
    ['/chat', 'Chat'],
    ['/groups', 'Groups'],
    ['/scheduled', 'Scheduled'],
    ['/logs', 'Logs'],
    ['/profile', 'Profile'],
    ['/admin', 'Admin', 'admin'],
    ['/docs', 'API docs'],
  ];

  let profile = null;
  let renderToken = 0;

  function currentPath() {
    const path = location.pathname.replace(/\/+$/, '') || '/';
    return ROUTES[path] ? path : '/';
  }

  function drawNav(active) {
    const nav = document.getElementById('nav');
    clear(nav);
    for (const [path, label, role] of NAV) {
      if (role && (!profile || profile.role !== role)) continue;
      const current = path === active || (active === '/' && path === '/clients');
      nav.appendChild(h('a', { href: path, class: current ? 'active' : null, 'aria-current': current ? 'page' : null }, label));
    }
  }

  function showChrome(visible) {
    document.getElementById('topbar').hidden = !visible;
    document.body.classList.toggle('signed-out', !visible);
    const who = document.getElementById('whoami');
    who.textContent = profile ? profile.username + (profile.role === 'admin' ? ' (admin)' : '') : '';
  }

  async function loadProfile() {
    try {
      profile = await api('GET', '/api/profile', undefined, { allow401: true });
    } catch (err) {
      profile = null;
      if (err.status !== 401) throw err;
    }
    Chattu.profile = profile;
    return profile;
  }

  async function render() {
    const token = ++renderToken;
    Chattu.live.leavePage();
    const path = currentPath();
    const name = ROUTES[path];
    const page = Chattu.pages[name];
    const main = document.getElementById('main');
    if (!page.public && !profile) {
      const next = location.pathname + location.search;
      history.replaceState(null, '', '/login' + (next !== '/login' && next !== '/' ? '?next=' + encodeURIComponent(next) : ''));
      return render();
    }
    if (name === 'login' && profile) {
      history.replaceState(null, '', '/clients');
      return render();
    }
    showChrome(!!profile);
    drawNav(path);
    clear(main);
    document.title = page.title + ' · Chattu';
    main.dataset.page = name;
    const body = h('div', { class: 'page page-' + name });
    main.appendChild(body);
    try {
      await page.render(body, { profile, isCurrent: () => token === renderToken });
    } catch (err) {
      if (token !== renderToken) return;
      if (err instanceof Chattu.ApiError && err.status === 401) return;
      body.appendChild(Chattu.errorNotice(err));
    }
  }

  function navigate(path) {
    if (path !== location.pathname + location.search) history.pushState(null, '', path);
    render();
  }

  // After login/logout the profile changes; reload it and redraw.
  async function signedIn() {
    await loadProfile();
    Chattu.live.start();
    const next = new URLSearchParams(location.search).get('next');
    // Only a same-origin path: '//host' and '/\\host' would leave the site.
    navigate(next && /^\/(?![/\\])/.test(next) ? next : '/clients');
  }

  async function signOut() {
    try {
      await api('POST', '/logout', {}, { allow401: true });
    } catch (err) {
      /* the cookie may already be gone */
    }
    profile = null;
    Chattu.profile = null;
    Chattu.live.stop();
    navigate('/login');
  }

  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !ROUTES[url.pathname.replace(/\/+$/, '') || '/']) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', render);

  Chattu.navigate = navigate;
  Chattu.signedIn = signedIn;
  Chattu.onUnauthorized = () => {
    if (!profile) return;
    profile = null;
    Chattu.profile = null;
    Chattu.toast('Your session ended; please log in again.', 'error');
    navigate('/login?next=' + encodeURIComponent(location.pathname));
  };

  async function boot() {
    document.getElementById('logout').addEventListener('click', signOut);
    try {
      await loadProfile();
    } catch (err) {
      const main = clear(document.getElementById('main'));
      main.appendChild(Chattu.errorNotice(err));
      return;
    }
    if (profile) Chattu.live.start();
    render();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
