// Login: POST /login sets the HttpOnly session cookie; the app then reloads the profile.
'use strict';

(function () {
  const Chattu = window.Chattu;
  const { h } = Chattu;

  Chattu.pages.login = {
    title: 'Log in',
    public: true,
    async render(root) {
      const error = h('p', { class: 'notice error', role: 'alert', hidden: true });
      const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
      const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
      const submit = h('button', { type: 'submit', class: 'btn btn-block' }, 'Log in');
      const form = h(
        'form',
        { class: 'card login-card', 'aria-labelledby': 'login-title' },
        h('div', { class: 'login-brand' }, h('img', { src: '/assets/favicon.svg', alt: '', width: 40, height: 40 }), h('h1', { id: 'login-title' }, 'Chattu')),
        h('p', { class: 'muted' }, 'Sign in to manage your WhatsApp numbers.'),
        error,
        h('label', { for: 'login-username' }, 'Username', username),
        h('label', { for: 'login-password' }, 'Password', password),
        submit,
        h('p', { class: 'muted small' }, h('a', { href: '/docs' }, 'API documentation'))
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          await Chattu.api('POST', '/login', { username: username.value.trim(), password: password.value }, { allow401: true });
          password.value = '';
          await Chattu.signedIn();
        } catch (err) {
          error.textContent = err.status === 401 || err.status === 403 ? 'Wrong username or password.' : Chattu.errorText(err);
          error.hidden = false;
          password.select();
        } finally {
          submit.disabled = false;
        }
      });
      root.appendChild(h('div', { class: 'login-wrap' }, form));
      username.focus();
    },
  };
})();
