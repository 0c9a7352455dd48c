// Profile: who is logged in, the account API key (masked until revealed) and its reset.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h, api, toast, errorText } = Chattu;

  Chattu.pages.profile = {
    title: 'Profile',
    async render(root) {
      const profile = await api('GET', '/api/profile');
      Chattu.profile = profile;
      let apiKey = String(profile.apiKey || '');
      const keyText = h('code', { class: 'secret masked', id: 'api-key', 'aria-label': 'Account API key' }, '•'.repeat(16));
      let shown = false;
      const reveal = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-pressed': 'false', 'aria-controls': 'api-key' }, 'Reveal');
      const copy = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Copy');
      const reset = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Reset key');

      function paint() {
        keyText.textContent = shown ? apiKey : '•'.repeat(16);
        keyText.classList.toggle('masked', !shown);
        reveal.textContent = shown ? 'Hide' : 'Reveal';
        reveal.setAttribute('aria-pressed', String(shown));
      }
      reveal.addEventListener('click', () => {
        shown = !shown;
        paint();
      });
      copy.addEventListener('click', async () => toast((await Chattu.copyText(apiKey)) ? 'API key copied' : 'Copy failed', 'info'));
      reset.addEventListener('click', async () => {
        const answer = await Chattu.askDialog(
          'Reset the API key?',
          'Programs using the current key stop working until they are given the new one.',
          [],
          'Reset key',
          true
        );
        if (!answer) return;
        try {
          const data = await api('POST', '/api/reset-api-key', { username: profile.username, currentApiKey: apiKey });
          apiKey = String((data && data.newApiKey) || apiKey);
          shown = true;
          paint();
          toast('New API key issued', 'ok');
        } catch (err) {
          toast(errorText(err), 'error');
        }
      });

      root.append(
        Chattu.pageHeader('Profile'),
        h(
          'section',
          { class: 'card' },
          h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'Username'),
            h('dd', { dir: 'auto' }, String(profile.username || '')),
            h('dt', {}, 'Role'),
            h('dd', {}, String(profile.role || '')),
            h('dt', {}, 'Clients'),
            h('dd', {}, String(profile.clientCount ?? '')),
            h('dt', {}, 'API key'),
            h('dd', {}, h('span', { class: 'secret-row' }, keyText, reveal, copy, reset))
          ),
          h('p', { class: 'muted small' }, 'Send the key as the x-api-key header. See the ', h('a', { href: '/docs' }, 'API documentation'), '.')
        )
      );
    },
  };
})();
