// Users (for holders of manage_users): the list with each user's state and permissions, creating a user, enabling
// and disabling, deleting after typing the name, and granting or revoking a permission (global, on a stream, or on
// one topic).

import * as api from '../api.js';
import { banner, card, confirmDialog, fmtTime, h, setEmpty, setText, syncChildren, table } from '../ui.js';

const GLOBAL = ['manage_users', 'manage_streams', 'read_all', 'write_all', 'read_metrics'];
const SCOPED = ['read', 'write', 'manage'];

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
}

/** Every grant of a user as short labels (`read_all`, `shop: read`, `shop/orders: write`). */
export function grantLabels(grants) {
  const out = [...(grants.global || [])];
  for (const [stream, perms] of Object.entries(grants.streams || {})) out.push(`${stream}: ${perms.join(', ')}`);
  for (const [stream, topics] of Object.entries(grants.topics || {})) {
    for (const [topic, perms] of Object.entries(topics)) out.push(`${stream}/${topic}: ${perms.join(', ')}`);
  }
  return out;
}

function createForm(onCreate) {
  const name = h('input', { id: 'user-name', 'data-testid': 'user-name', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 64, placeholder: 'alice' });
  const password = h('input', { id: 'user-password', 'data-testid': 'user-password', type: 'password', required: true, autocomplete: 'new-password', minlength: 8 });
  const admin = h('input', { id: 'user-admin', 'data-testid': 'user-admin', type: 'checkbox' });
  const submit = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'create-user-submit', text: 'Create user' });
  const form = h('form', { class: 'stack', 'data-testid': 'create-user-form', novalidate: true },
    h('div', { class: 'fields' }, field('Name', name), field('Password (at least 8 characters)', password),
      h('div', { class: 'field' }, h('label', { for: 'user-admin', text: 'Every global permission' }), admin)),
    h('div', { class: 'row end' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const grants = admin.checked ? { global: GLOBAL } : {};
    submit.disabled = true;
    try {
      await onCreate({ name: name.value.trim(), password: password.value, grants });
      name.value = '';
      password.value = '';
      admin.checked = false;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function grantForm(onApply) {
  const user = h('select', { id: 'grant-user', 'data-testid': 'grant-user' });
  const scope = h('select', { id: 'grant-scope', 'data-testid': 'grant-scope' },
    h('option', { value: 'global', text: 'Broker-wide' }), h('option', { value: 'stream', text: 'A stream' }),
    h('option', { value: 'topic', text: 'A topic' }));
  const stream = h('input', { id: 'grant-stream', 'data-testid': 'grant-stream', autocomplete: 'off', spellcheck: 'false', placeholder: 'default' });
  const topic = h('input', { id: 'grant-topic', 'data-testid': 'grant-topic', autocomplete: 'off', spellcheck: 'false', placeholder: 'orders' });
  const permission = h('select', { id: 'grant-permission', 'data-testid': 'grant-permission' });
  const streamField = field('Stream', stream);
  const topicField = field('Topic', topic);
  function sync() {
    const perms = scope.value === 'global' ? GLOBAL : SCOPED;
    if (Array.from(permission.options).map((o) => o.value).join() !== perms.join()) {
      permission.replaceChildren(...perms.map((p) => h('option', { value: p, text: p.replaceAll('_', ' ') })));
    }
    streamField.hidden = scope.value === 'global';
    topicField.hidden = scope.value !== 'topic';
  }
  scope.addEventListener('change', sync);
  sync();
  function access() {
    if (scope.value === 'global') return { global: permission.value };
    if (scope.value === 'stream') return { stream: { stream: stream.value.trim(), permission: permission.value } };
    return { topic: { stream: stream.value.trim(), topic: topic.value.trim(), permission: permission.value } };
  }
  const grant = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'grant-submit', text: 'Grant' });
  const revoke = h('button', { type: 'button', class: 'btn', 'data-testid': 'revoke-submit', text: 'Revoke' });
  const form = h('form', { class: 'stack', 'data-testid': 'grant-form', novalidate: true },
    h('div', { class: 'fields' }, field('User', user), field('On', scope), streamField, topicField, field('Permission', permission)),
    h('div', { class: 'row end' }, revoke, grant));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    onApply('grant', user.value, access());
  });
  revoke.addEventListener('click', () => onApply('revoke', user.value, access()));
  return {
    form,
    setUsers(names) {
      const current = Array.from(user.options).map((o) => o.value);
      if (current.join('\n') === names.join('\n')) return;
      const picked = user.value;
      user.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
      if (names.includes(picked)) user.value = picked;
    },
  };
}

export default {
  section: 'users',
  mount(main, ctx) {
    ctx.crumbs([{ label: 'Users' }]);
    const list = table('Users', [
      { label: 'User' }, { label: 'State' }, { label: 'Permissions' }, { label: 'Created' }, { label: 'Actions', num: true },
    ], 'users-table');
    const count = h('span', { class: 'hint', 'data-testid': 'users-count' });

    async function act(what, run, done) {
      try {
        await run();
        banner('page:action', null);
        banner('page:done', done, 'success');
        ctx.refreshNow();
      } catch (e) {
        banner('page:action', e);
      }
    }

    const grants = grantForm((kind, user, access) => act(kind, () => (kind === 'grant' ? api.grant(user, access) : api.revoke(user, access)),
      `${kind === 'grant' ? 'Granted' : 'Revoked'} ${grantLabels(access.global ? { global: [access.global] }
        : access.stream ? { streams: { [access.stream.stream]: [access.stream.permission] } }
          : { topics: { [access.topic.stream]: { [access.topic.topic]: [access.topic.permission] } } })[0]} ${kind === 'grant' ? 'to' : 'from'} ${user}.`));

    async function remove(name) {
      const ok = await confirmDialog({ title: `Delete user ${name}?`, text: 'Their access tokens are revoked and their requests refused at once.', typed: name });
      if (ok) await act('delete', () => api.deleteUser(name), `Deleted user ${name}.`);
    }

    main.append(
      h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Users' }),
        h('p', {}, 'Who may sign in, and what each user may do. Changes apply to open connections at once.'))),
      card('Users', { testid: 'card-users', flush: true, actions: count }, list.wrap),
      card('Create a user', { testid: 'card-create-user' },
        createForm((body) => act('create', () => api.createUser(body), `Created user ${body.name}.`))),
      card('Grant or revoke a permission', { testid: 'card-grants' }, grants.form),
    );

    return {
      async refresh({ signal }) {
        const users = await api.users(signal);
        setText(count, `${users.length} user${users.length === 1 ? '' : 's'}`);
        grants.setUsers(users.map((u) => u.name));
        syncChildren(list.tbody, users, (u) => u.name, (u) => h('tr', { 'data-testid': `user-row-${u.name}` },
          h('td', { class: 'name', text: u.name }), h('td', { 'data-testid': `user-state-${u.name}` }),
          h('td', { 'data-testid': `user-grants-${u.name}` }), h('td'),
          h('td', { class: 'actions' },
            h('button', { type: 'button', class: 'btn small', 'data-testid': `toggle-user-${u.name}` }),
            h('button', {
              type: 'button', class: 'btn small danger', 'data-testid': `delete-user-${u.name}`, 'aria-label': `Delete user ${u.name}`,
              text: 'Delete', on: { click: () => remove(u.name) },
            }))), (tr, u) => {
          const c = tr.children;
          const label = u.enabled ? 'enabled' : 'disabled';
          if (c[1].textContent !== label) c[1].replaceChildren(h('span', { class: `badge ${u.enabled ? 'ok' : ''}`, text: label }));
          const labels = grantLabels(u.grants);
          if (c[2].textContent !== (labels.length ? labels.join('') : 'none')) {
            c[2].replaceChildren(labels.length ? h('span', { class: 'grant-list' }, ...labels.map((l) => h('span', { class: 'badge', text: l })))
              : h('span', { class: 'hint', text: 'none' }));
          }
          setText(c[3], fmtTime(u.created_ms));
          const toggle = c[4].children[0];
          setText(toggle, u.enabled ? 'Disable' : 'Enable');
          toggle.setAttribute('aria-label', `${u.enabled ? 'Disable' : 'Enable'} user ${u.name}`);
          toggle.onclick = () => act('toggle', () => api.updateUser(u.name, { enabled: !u.enabled }),
            `${u.enabled ? 'Disabled' : 'Enabled'} user ${u.name}.`);
        });
        setEmpty(list, users.length, 'No users.');
      },
    };
  },
};
