// SocialOps console: a page application over the JSON API under
// /console/socialops/…, kept live by its WebSocket. Plain JavaScript with no
// build step. Every text from the server goes into the page as a text node
// (el() below never parses HTML), so a message "<img onerror=…>" stays text.
'use strict';
(function () {
  const I18N = window.SOCIALOPS_I18N;
  const cookieLang = (document.cookie.match(/(?:^|; )socialops_lang=(zh|en)/) || [])[1];
  let lang = cookieLang || document.documentElement.lang || 'en';

  function t(key, vars) {
    let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
    if (vars) for (const k of Object.keys(vars)) s = s.split('{' + k + '}').join(String(vars[k]));
    return s;
  }

  // el builds an element; strings become text nodes, never markup.
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else if (k === 'class') n.className = v;
      else if (k === 'dataset') Object.assign(n.dataset, v);
      else if (k === 'value') n.value = v;
      else if (k === 'checked' || k === 'selected' || k === 'disabled') n[k] = !!v;
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  function options(values, current, label) {
    return values.map((v) => el('option', { value: v, selected: v === current }, label ? label(v) : v));
  }

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'short' });
  }

  const state = {
    session: null, instances: [], alias: null, view: 'inbox',
    filters: { status: '', priority: '', provider: '', session_state: '', assignee: '', q: '' },
    threads: [], nextCursor: '', hasMore: false, loading: false, active: -1, listGen: 0, reportRun: 0,
    selected: null, messages: [], operators: [], mode: 'reply',
    ws: null, wsPosition: 0, wsRetry: 0, pending: null, written: 0,
  };
  const canManage = () => state.session && state.session.permissions.includes('service:manage');
  const base = () => '/console/socialops/' + encodeURIComponent(state.alias);

  // api calls the JSON API with the session cookie, the CSRF token on
  // changes and, when given, the position to read at (read-your-writes).
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && state.session) headers['X-CSRF-Token'] = state.session.csrf_token;
    // Read your writes: a read after a change waits for the read models to
    // hold it (the position the change answered with).
    const position = opts.position || (method === 'GET' ? state.written : 0);
    if (position) headers['X-SocialOps-Position'] = String(position);
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
    const res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      location.assign('/console/signin');
      throw new Error(t('signed_out'));
    }
    let json = null;
    try { json = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok || !json || json.success === false) {
      const e = (json && json.error) || {};
      const err = new Error(e.message || res.statusText || String(res.status));
      err.code = e.code || String(res.status);
      throw err;
    }
    const pos = Number(res.headers.get('X-SocialOps-Position') || 0);
    if (method !== 'GET' && pos > state.written) state.written = pos;
    return { data: json.data, position: pos };
  }

  function toast(message, kind) {
    const box = document.getElementById('toast');
    if (!box) return;
    box.textContent = message;
    box.className = 'toast ' + (kind || 'error');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.className = 'toast hidden'; }, 6000);
  }
  const fail = (err) => toast(t('error') + ': ' + (err.code ? err.code + ' — ' : '') + err.message);

  // ---- shell ----

  function renderShell() {
    const app = document.getElementById('app');
    app.replaceChildren(
      el('header', { class: 'topbar' },
        el('span', { class: 'brand' }, 'SocialOps'),
        el('select', { id: 'instance-select', 'aria-label': t('instance'), onchange: (e) => switchInstance(e.target.value) },
          state.instances.map((i) => el('option', { value: i.alias, selected: i.alias === state.alias }, i.name ? i.name + ' (' + i.alias + ')' : i.alias))),
        el('nav', { class: 'tabs' },
          ['inbox', 'channels', 'operators', 'bots', 'webhooks', 'billing', 'reports'].map((v) =>
            el('button', { type: 'button', id: 'tab-' + v, class: v === state.view ? 'tab active' : 'tab', onclick: () => show(v) }, t('tab_' + v)))),
        el('span', { id: 'live-status', class: 'live off' }, t('connecting')),
        el('span', { class: 'user', id: 'user-id', title: state.session.permissions.join(', ') },
          state.session.user_id, canManage() ? '' : ' · ' + t('read_only')),
        el('button', { type: 'button', id: 'lang-toggle', onclick: toggleLanguage }, t('other_language')),
        el('button', { type: 'button', id: 'signout', onclick: signOut }, t('sign_out'))),
      el('main', { id: 'view' }),
      el('div', { id: 'toast', class: 'toast hidden', role: 'alert' }));
    updateLive();
  }

  function toggleLanguage() {
    lang = lang === 'zh' ? 'en' : 'zh';
    document.cookie = 'socialops_lang=' + lang + '; path=/; max-age=31536000; samesite=strict';
    document.documentElement.lang = lang;
    renderShell();
    renderView();
  }

  async function signOut() {
    try {
      await fetch('/console/signout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': state.session.csrf_token } });
    } finally {
      location.assign('/console/signin');
    }
  }

  function show(view) {
    state.view = view;
    renderShell();
    renderView();
  }

  function switchInstance(alias) {
    state.alias = alias;
    state.threads = []; state.selected = null; state.messages = []; state.active = -1;
    try { localStorage.setItem('socialops_instance', alias); } catch (_) { /* private mode */ }
    connect(true);
    renderView();
  }

  function renderView() {
    const view = document.getElementById('view');
    view.replaceChildren();
    view.className = 'view-' + state.view;
    if (!state.alias) {
      view.append(el('p', { class: 'empty', id: 'no-instances' }, t('no_instances')));
      return;
    }
    ({ inbox: renderInbox, channels: renderChannels, operators: renderOperators, bots: renderBots,
      webhooks: renderWebhooks, billing: renderBilling, reports: renderReports })[state.view](view);
  }

  // ---- inbox ----

  const STATUSES = ['open', 'pending', 'resolved', 'archived'];
  const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
  const PROVIDERS = ['generic-webhook', 'telegram', 'github', 'wecom', 'wechat', 'douyin', 'jd'];
  const SESSION_STATES = ['ai', 'pending', 'manual', 'closed'];

  function renderInbox(view) {
    const f = state.filters;
    const filter = (id, key, values, label) => el('select', {
      id, 'aria-label': t('filter_' + key),
      onchange: (e) => { f[key] = e.target.value; reloadThreads(); },
    }, el('option', { value: '' }, t('filter_' + key) + ': ' + t('all')), options(values, f[key], label));
    let searchTimer = null;
    view.append(
      el('section', { class: 'list-pane' },
        el('form', { id: 'filters', class: 'filters', onsubmit: (e) => { e.preventDefault(); reloadThreads(); } },
          filter('filter-status', 'status', STATUSES, (v) => t('status_' + v)),
          filter('filter-priority', 'priority', PRIORITIES, (v) => t('priority_' + v)),
          filter('filter-provider', 'provider', PROVIDERS),
          filter('filter-session', 'session_state', SESSION_STATES, (v) => t('session_' + v)),
          el('select', {
            id: 'filter-assignee', 'aria-label': t('filter_assignee'),
            onchange: (e) => { f.assignee = e.target.value; reloadThreads(); },
          }, el('option', { value: '' }, t('filter_assignee') + ': ' + t('all')),
          state.operators.map((o) => el('option', { value: String(o.id), selected: String(o.id) === f.assignee }, o.name))),
          el('input', {
            id: 'filter-q', type: 'search', placeholder: t('search'), value: f.q, maxlength: 200,
            oninput: (e) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { f.q = e.target.value.trim(); reloadThreads(); }, 250); },
          })),
        el('p', { id: 'thread-total', class: 'muted' }),
        el('ul', { id: 'thread-list', class: 'thread-list', role: 'listbox', tabindex: 0 }),
        el('div', { id: 'list-sentinel', class: 'sentinel' })),
      el('section', { id: 'thread-pane', class: 'thread-pane' }, el('p', { class: 'empty' }, t('pick_thread'))));
    const sentinel = document.getElementById('list-sentinel');
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && state.hasMore && !state.loading) loadThreads(false);
    }).observe(sentinel);
    if (state.threads.length) { drawThreads(); if (state.selected) drawThread(); } else reloadThreads();
    if (!state.operators.length) {
      loadOperators().then(() => {
        const sel = document.getElementById('filter-assignee');
        if (sel) sel.append(...state.operators.map((o) => el('option', { value: String(o.id) }, o.name)));
        if (state.selected) drawThread();
      });
    }
  }

  function threadQuery(cursor) {
    const p = new URLSearchParams({ limit: '30' });
    for (const [k, v] of Object.entries(state.filters)) if (v) p.set(k, v);
    if (cursor) p.set('cursor', cursor);
    return p.toString();
  }

  // reloadThreads starts the list over (the filters changed): an answer to
  // a request made before, for the old filters, is dropped when it lands.
  function reloadThreads() {
    state.listGen++;
    state.threads = []; state.nextCursor = ''; state.hasMore = false; state.active = -1;
    return loadThreads(true);
  }

  async function loadThreads(first, position) {
    const alias = state.alias;
    const gen = state.listGen;
    state.loading = true;
    try {
      const { data } = await api('GET', base() + '/inbox?' + threadQuery(first ? '' : state.nextCursor), undefined, { position });
      if (alias !== state.alias || gen !== state.listGen) return;
      if (first && state.threads.length) {
        // A live refresh of the first page: it replaces what it holds and
        // keeps the older pages already loaded.
        const fresh = new Set(data.threads.map((x) => x.thread_id));
        const older = state.threads.slice(data.threads.length).filter((x) => !fresh.has(x.thread_id));
        state.threads = data.threads.concat(older);
        if (!state.nextCursor) { state.nextCursor = data.next_cursor || ''; state.hasMore = data.has_more; }
      } else {
        state.threads = first ? data.threads : state.threads.concat(data.threads);
        state.nextCursor = data.next_cursor || '';
        state.hasMore = data.has_more;
      }
      state.total = data.total;
      state.totalExact = data.total_exact !== false;
      drawThreads();
    } catch (err) {
      if (gen === state.listGen) fail(err);
    } finally {
      if (gen === state.listGen) state.loading = false;
    }
  }

  function badge(kind, value, label) {
    return el('span', { class: 'badge ' + kind + ' ' + kind + '-' + value }, label || value);
  }

  function drawThreads() {
    const list = document.getElementById('thread-list');
    if (!list) return;
    const total = document.getElementById('thread-total');
    if (total) total.textContent = t(state.totalExact === false ? 'threads_total_more' : 'threads_total', { n: state.total || 0 });
    list.replaceChildren(...state.threads.map((th, i) => el('li', {
      class: 'thread-item' + (th.thread_id === state.selected ? ' selected' : '') + (i === state.active ? ' active' : ''),
      role: 'option', dataset: { threadId: th.thread_id }, 'aria-selected': th.thread_id === state.selected ? 'true' : 'false',
      onclick: () => { state.active = i; openThread(th.thread_id); },
    },
    el('div', { class: 'row' },
      el('strong', { class: 'subject' }, th.subject || t('no_subject')),
      el('time', { datetime: th.last_message_at, title: th.last_message_at }, fmtTime(th.last_message_at))),
    el('div', { class: 'row badges' },
      badge('provider', th.provider),
      badge('status', th.status, t('status_' + th.status)),
      badge('priority', th.priority, t('priority_' + th.priority)),
      th.session_state ? badge('session', th.session_state, t('session_' + th.session_state)) : null,
      th.assignee ? el('span', { class: 'assignee' }, '→ ' + assigneeName(th.assignee)) : null),
    el('div', { class: 'preview' }, th.last_message_preview))));
    if (!state.threads.length && !state.loading) list.append(el('li', { class: 'empty', id: 'no-threads' }, t('no_threads')));
  }

  function moveActive(delta) {
    if (!state.threads.length) return;
    state.active = Math.max(0, Math.min(state.threads.length - 1, state.active + delta));
    drawThreads();
    const item = document.querySelectorAll('#thread-list .thread-item')[state.active];
    if (item) item.scrollIntoView({ block: 'nearest' });
    if (state.active >= state.threads.length - 3 && state.hasMore && !state.loading) loadThreads(false);
  }

  document.addEventListener('keydown', (e) => {
    if (state.view !== 'inbox' || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select') {
      if (e.key === 'Escape') e.target.blur();
      return;
    }
    if (e.key === 'j' || e.key === 'ArrowDown') { e.preventDefault(); moveActive(1); }
    else if (e.key === 'k' || e.key === 'ArrowUp') { e.preventDefault(); moveActive(-1); }
    else if (e.key === 'Enter' && state.active >= 0) { e.preventDefault(); openThread(state.threads[state.active].thread_id); }
    else if (e.key === '/') { e.preventDefault(); const q = document.getElementById('filter-q'); if (q) q.focus(); }
    else if (e.key === 'r' && canManage()) { const c = document.getElementById('composer'); if (c) { e.preventDefault(); c.focus(); } }
  });

  async function openThread(id) {
    state.selected = id;
    state.messages = [];
    drawThreads();
    drawThread();
    await loadMessages();
  }

  async function loadOperators() {
    try {
      const { data } = await api('GET', base() + '/operators');
      state.operators = data.operators || [];
    } catch (err) { fail(err); }
  }

  async function loadMessages(position) {
    const id = state.selected;
    try {
      const path = base() + '/threads/' + encodeURIComponent(id) + '/messages?limit=100';
      let { data } = await api('GET', path, undefined, { position });
      if (data.has_more) {
        const last = Math.ceil(data.total / 100);
        ({ data } = await api('GET', path + '&page=' + last, undefined, { position }));
      }
      if (id !== state.selected) return;
      state.messages = data.messages;
      drawMessages();
    } catch (err) { fail(err); }
  }

  function selectedThread() {
    return state.threads.find((x) => x.thread_id === state.selected) || state.openThread || null;
  }

  async function patchThread(body) {
    try {
      const { position } = await api('PATCH', base() + '/threads/' + encodeURIComponent(state.selected), body);
      await loadThreads(true, position);
      drawThread();
      toast(t('saved'), 'ok');
    } catch (err) { fail(err); }
  }

  function drawThread() {
    const pane = document.getElementById('thread-pane');
    if (!pane) return;
    const th = selectedThread();
    if (!state.selected) { delete pane.dataset.threadId; pane.replaceChildren(el('p', { class: 'empty' }, t('pick_thread'))); return; }
    if (th) state.openThread = th;
    const manage = canManage();
    const header = el('div', { class: 'thread-head' },
      el('h2', { id: 'thread-subject' }, th ? th.subject || t('no_subject') : state.selected),
      th ? el('div', { class: 'row badges' }, badge('provider', th.provider),
        th.labels && th.labels.length ? th.labels.map((l) => badge('label', 'x', l)) : null) : null);
    const controls = el('div', { class: 'controls', id: 'thread-controls' });
    if (th && manage) {
      controls.append(
        el('label', {}, t('status') + ' ', el('select', { id: 'status-select', onchange: (e) => patchThread({ status: e.target.value }) },
          options(STATUSES, th.status, (v) => t('status_' + v)))),
        el('label', {}, t('priority') + ' ', el('select', { id: 'priority-select', onchange: (e) => patchThread({ priority: e.target.value }) },
          options(PRIORITIES, th.priority, (v) => t('priority_' + v)))),
        el('label', {}, t('assignee') + ' ', el('select', { id: 'assignee-select', onchange: (e) => patchThread({ assignee: e.target.value === '' ? null : e.target.value }) },
          el('option', { value: '' }, t('none')),
          state.operators.filter((o) => o.status === 0 || String(o.id) === th.assignee).map((o) =>
            el('option', { value: String(o.id), selected: String(o.id) === th.assignee }, o.name)))));
      const sess = th.session_state;
      const session = el('div', { class: 'session', id: 'session-controls' }, t('session') + ': ', sess ? t('session_' + sess) : t('none'),
        th.session_operator_id ? ' (' + operatorName(th.session_operator_id) + ')' : '');
      if (sess === 'pending' || sess === 'ai') {
        session.append(
          el('select', { id: 'accept-operator', 'aria-label': t('operator') },
            state.operators.filter((o) => o.status === 0).map((o) => el('option', { value: o.id }, o.name))),
          el('button', { type: 'button', id: 'accept-btn', onclick: acceptSession }, t('accept')));
      }
      if (sess && sess !== 'closed') session.append(el('button', { type: 'button', id: 'close-btn', onclick: closeSession }, t('close')));
      controls.append(session);
    } else if (th) {
      controls.append(el('p', { id: 'readonly-facts' },
        t('status') + ': ' + t('status_' + th.status) + ' · ' + t('priority') + ': ' + t('priority_' + th.priority) +
        ' · ' + t('assignee') + ': ' + (th.assignee ? assigneeName(th.assignee) : t('none')) + ' · ' + t('session') + ': ' + (th.session_state ? t('session_' + th.session_state) : t('none'))));
    }
    const top = [header, controls];
    if (th && th.ai_summary) top.push(el('aside', { class: 'summary', id: 'ai-summary' }, el('strong', {}, t('summary') + ': '), th.ai_summary));
    // A redraw of the same thread (a live change, a saved control) replaces
    // only its head: the messages, and what is being typed with its focus, stay.
    const same = pane.dataset.threadId === state.selected && pane.dataset.lang === lang && document.getElementById('thread-top');
    if (same) {
      document.getElementById('thread-top').replaceChildren(...top);
    } else {
      pane.dataset.threadId = state.selected;
      pane.dataset.lang = lang;
      pane.replaceChildren(...[
        el('div', { id: 'thread-top', class: 'thread-top' }, top),
        el('div', { class: 'thread-body' }, el('ul', { id: 'messages', class: 'messages' }), el('aside', { id: 'contact-panel', class: 'contact-panel' })),
        manage ? composer() : null,
      ].filter(Boolean));
      drawMessages();
    }
    drawContact();
  }

  // The contact panel: who writes, across channels, with their orders and tickets.
  async function drawContact() {
    const id = state.selected;
    let p;
    try {
      ({ data: p } = await api('GET', base() + '/threads/' + encodeURIComponent(id) + '/contact'));
    } catch (_) {
      return; // a thread without a contact keeps the panel empty
    }
    const box = document.getElementById('contact-panel');
    if (!box || id !== state.selected) return;
    const row = (k, v) => (v ? el('div', { class: 'kv' }, el('span', { class: 'muted' }, t(k)), ' ', v) : null);
    box.replaceChildren(...[
      el('h3', {}, t('contact')),
      el('strong', { id: 'contact-name' }, p.name || p.display_name || p.contact_id),
      row('phone', p.phone), row('email', p.email), row('level', p.level),
      p.tags && p.tags.length ? el('div', { class: 'row badges' }, p.tags.map((x) => badge('label', 'x', x))) : null,
      (p.identities || []).length ? el('div', { class: 'kv' }, el('span', { class: 'muted' }, t('channels_seen')), ' ',
        p.identities.map((i) => i.provider).join(', ')) : null,
      (p.orders || []).length ? [el('h4', {}, t('orders')), el('ul', { class: 'mini' }, p.orders.slice(0, 5).map((o) =>
        el('li', {}, o.order_id + ' · ' + o.amount + ' ' + o.currency + ' · ' + o.status)))] : null,
      (p.tickets || []).length ? [el('h4', {}, t('tickets')), el('ul', { class: 'mini' }, p.tickets.slice(0, 5).map((k) =>
        el('li', {}, (k.title || k.ticket_id) + ' · ' + k.status)))] : null,
    ].flat().filter(Boolean));
  }

  function assigneeName(a) {
    const o = state.operators.find((x) => String(x.id) === a);
    return o ? o.name : a;
  }

  function operatorName(id) {
    const o = state.operators.find((x) => x.id === id);
    return o ? o.name : '#' + id;
  }

  async function acceptSession() {
    const sel = document.getElementById('accept-operator');
    if (!sel || !sel.value) { toast(t('no_operator')); return; }
    try {
      const { position } = await api('POST', base() + '/threads/' + encodeURIComponent(state.selected) + '/accept', { operator_id: Number(sel.value) });
      await loadThreads(true, position);
      drawThread();
    } catch (err) { fail(err); }
  }

  async function closeSession() {
    try {
      const { position } = await api('POST', base() + '/threads/' + encodeURIComponent(state.selected) + '/close', {});
      await loadThreads(true, position);
      drawThread();
    } catch (err) { fail(err); }
  }

  function composer() {
    const setMode = (m) => {
      state.mode = m;
      document.getElementById('mode-reply').classList.toggle('active', m === 'reply');
      document.getElementById('mode-note').classList.toggle('active', m === 'note');
      document.getElementById('composer').placeholder = t(m === 'reply' ? 'reply_placeholder' : 'note_placeholder');
      document.getElementById('composer-box').classList.toggle('note-mode', m === 'note');
    };
    const box = el('form', { id: 'composer-box', class: 'composer' + (state.mode === 'note' ? ' note-mode' : ''), onsubmit: (e) => { e.preventDefault(); send(); } },
      el('div', { class: 'modes' },
        el('button', { type: 'button', id: 'mode-reply', class: state.mode === 'reply' ? 'active' : '', onclick: () => setMode('reply') }, t('reply')),
        el('button', { type: 'button', id: 'mode-note', class: state.mode === 'note' ? 'active' : '', onclick: () => setMode('note') }, t('note'))),
      el('textarea', {
        id: 'composer', rows: 3, maxlength: 4096, placeholder: t(state.mode === 'reply' ? 'reply_placeholder' : 'note_placeholder'),
        onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } },
      }),
      el('button', { type: 'submit', id: 'send' }, t('send')));
    return box;
  }

  async function send() {
    const area = document.getElementById('composer');
    const text = area.value;
    if (!text.trim()) return;
    const kind = state.mode === 'note' ? 'notes' : 'replies';
    const key = kind === 'replies' ? 'console-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) : undefined;
    area.disabled = true;
    try {
      const { position } = await api('POST', base() + '/threads/' + encodeURIComponent(state.selected) + '/' + kind, { text }, { idempotencyKey: key });
      area.value = '';
      await loadMessages(position);
    } catch (err) { fail(err); } finally {
      area.disabled = false;
      area.focus();
    }
  }

  function drawMessages() {
    const list = document.getElementById('messages');
    if (!list) return;
    list.replaceChildren(...state.messages.map((m) => el('li', {
      class: 'msg msg-' + m.direction + (m.retracted_at ? ' retracted' : ''), dataset: { messageId: m.message_id },
    },
    el('div', { class: 'msg-meta' },
      el('span', { class: 'sender' }, m.direction === 'internal' ? t('internal_note') + ' · ' + (m.sender_name || '') : m.sender_name || t('dir_' + m.direction)),
      el('time', { datetime: m.created_at, title: m.created_at }, fmtTime(m.created_at)),
      m.edited_at ? el('span', { class: 'muted' }, t('edited')) : null),
    m.message_type && m.message_type !== 'text' ? el('div', { class: 'media' }, '[' + t('media_' + m.message_type) + ']') : null,
    m.text ? el('div', { class: 'msg-text' }, m.text) : null,
    m.delivery_status ? el('div', { class: 'delivery' },
      el('span', { class: 'delivery-status status-' + m.delivery_status, dataset: { status: m.delivery_status } }, t('delivery_' + m.delivery_status)),
      m.failure_reason ? el('span', { class: 'failure' }, ' ' + m.failure_reason) : null) : null)));
    if (!state.messages.length) list.append(el('li', { class: 'empty' }, t('loading')));
    list.scrollTop = list.scrollHeight;
  }

  // ---- live updates ----

  function updateLive() {
    const s = document.getElementById('live-status');
    if (!s) return;
    const on = state.ws && state.ws.readyState === WebSocket.OPEN;
    s.textContent = on ? t('live') : t('reconnecting');
    s.className = 'live ' + (on ? 'on' : 'off');
  }

  function connect(fresh) {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
    if (fresh) state.wsPosition = 0;
    if (!state.alias) return;
    const alias = state.alias;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + base() + '/ws' +
      (state.wsPosition ? '?since=' + state.wsPosition : '');
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.onopen = () => { state.wsRetry = 0; updateLive(); };
    ws.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch (_) { return; }
      if (f.type === 'connected' || f.type === 'resumed') {
        if (!state.wsPosition) state.wsPosition = f.position;
      } else if (f.type === 'changed') {
        state.wsPosition = Math.max(state.wsPosition, f.position);
        changed(f);
      } else if (f.type === 'resync_required') {
        state.wsPosition = f.position;
        changed({ position: f.position, thread_id: state.selected });
      }
    };
    ws.onclose = () => {
      if (alias !== state.alias) return;
      updateLive();
      state.wsRetry = Math.min(state.wsRetry + 1, 6);
      setTimeout(() => { if (alias === state.alias) connect(false); }, 500 * state.wsRetry);
    };
  }

  // changed gathers pushes for a moment, then refetches what they touched
  // at their position, so the page shows what the push announced.
  function changed(f) {
    const p = state.pending || (state.pending = { position: 0, threads: new Set() });
    p.position = Math.max(p.position, f.position);
    if (f.thread_id) p.threads.add(f.thread_id);
    if (p.timer) return;
    p.timer = setTimeout(async () => {
      state.pending = null;
      if (state.view !== 'inbox') return;
      await loadThreads(true, p.position);
      if (state.selected && p.threads.has(state.selected)) {
        drawThread();
        await loadMessages(p.position);
      }
    }, 120);
  }

  // ---- settings ----

  function section(title, ...children) {
    return el('section', { class: 'settings' }, el('h2', {}, title), children);
  }

  function table(id, headers, rows) {
    return el('table', { id, class: 'grid' },
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: headers.length, class: 'empty' }, t('nothing_yet')))));
  }

  function formOf(id, fields, submitLabel, onsubmit) {
    return el('form', { id, class: 'settings-form', onsubmit: (e) => { e.preventDefault(); onsubmit(e.target.elements, e.target); } },
      fields, el('button', { type: 'submit' }, submitLabel));
  }

  const input = (name, label, attrs) => el('label', {}, label, ' ', el('input', Object.assign({ name }, attrs || {})));

  async function renderChannels(view) {
    const { data } = await api('GET', base() + '/channels').catch((e) => { fail(e); return { data: { channels: [] } }; });
    const rows = data.channels.map((c) => el('tr', { dataset: { channelId: c.channel_id } },
      el('td', {}, c.channel_name), el('td', {}, c.provider), el('td', {}, c.external_channel_id), el('td', {}, c.connected_account_id),
      el('td', {}, c.parse_mode), el('td', { class: 'channel-status' }, t('channel_' + c.status)),
      el('td', {}, canManage() ? el('button', {
        type: 'button', class: 'toggle-channel',
        onclick: () => api('PATCH', base() + '/channels/' + encodeURIComponent(c.channel_id), { status: c.status === 'active' ? 'inactive' : 'active' })
          .then(() => show('channels')).catch(fail),
      }, c.status === 'active' ? t('disable') : t('enable')) : '')));
    view.append(section(t('tab_channels'),
      table('channels-table', [t('name'), t('provider'), t('chat'), t('account'), t('parse_mode'), t('state'), ''], rows),
      canManage() ? formOf('channel-form', [
        input('channel_name', t('name'), { required: true, maxlength: 200 }),
        input('connected_account_id', t('account'), { required: true, placeholder: 'conn_…' }),
        input('external_channel_id', t('chat'), { required: true, placeholder: '-1001234567890' }),
        el('label', {}, t('parse_mode') + ' ', el('select', { name: 'parse_mode' }, options(['HTML', 'MarkdownV2', ''], 'HTML', (v) => v || t('none')))),
      ], t('bind_telegram'), (f) => api('POST', base() + '/channels', {
        provider: 'telegram', connected_account_id: f.connected_account_id.value.trim(), channel_name: f.channel_name.value,
        external_channel_id: f.external_channel_id.value.trim(), parse_mode: f.parse_mode.value,
      }).then(() => show('channels')).catch(fail)) : null));
  }

  async function renderOperators(view) {
    const { data } = await api('GET', base() + '/operators').catch((e) => { fail(e); return { data: { operators: [] } }; });
    state.operators = data.operators;
    const patch = (id, body) => api('PATCH', base() + '/operators/' + id, body).then(() => show('operators')).catch(fail);
    const rows = data.operators.map((o) => el('tr', { dataset: { operatorId: o.id } },
      el('td', {}, o.id), el('td', {}, o.name),
      el('td', {}, canManage() ? el('select', { class: 'op-status', onchange: (e) => patch(o.id, { status: Number(e.target.value) }) },
        options(['0', '1'], String(o.status), (v) => t('operator_status_' + v))) : t('operator_status_' + o.status)),
      el('td', {}, canManage() ? el('input', { type: 'number', min: 0, max: 10000, value: o.capacity, class: 'op-capacity',
        onchange: (e) => patch(o.id, { capacity: Number(e.target.value) }) }) : o.capacity),
      el('td', {}, t('presence_' + o.presence)), el('td', {}, o.open_sessions)));
    view.append(section(t('tab_operators'),
      table('operators-table', ['#', t('name'), t('state'), t('capacity'), t('presence'), t('open_sessions')], rows),
      canManage() ? formOf('operator-form', [input('name', t('name'), { required: true, maxlength: 100 }),
        input('capacity', t('capacity'), { type: 'number', min: 0, max: 10000, value: 5 })], t('add_operator'),
      (f) => api('POST', base() + '/operators', { name: f.name.value, capacity: Number(f.capacity.value) }).then(() => show('operators')).catch(fail)) : null));
  }

  function secretNotice(label, value) {
    return el('p', { class: 'secret', id: 'secret-once' }, label + ' ', el('code', {}, value), ' ', el('span', { class: 'muted' }, t('shown_once')));
  }

  async function renderBots(view, notice) {
    const { data } = await api('GET', base() + '/bots').catch((e) => { fail(e); return { data: { bots: [] } }; });
    const rows = data.bots.map((b) => el('tr', { dataset: { botId: b.id } },
      el('td', {}, b.name), el('td', {}, b.kind || 'webhook'), el('td', {}, b.mode), el('td', {}, b.webhook_url || ''),
      el('td', {}, canManage() ? [
        el('button', { type: 'button', onclick: () => api('POST', base() + '/bots/' + encodeURIComponent(b.id) + '/rotate-token', {})
          .then(({ data: d }) => { view.replaceChildren(); renderBots(view, secretNotice(t('new_token'), d.bot.token)); }).catch(fail) }, t('rotate')),
        el('button', { type: 'button', onclick: () => { if (confirm(t('confirm_delete'))) api('DELETE', base() + '/bots/' + encodeURIComponent(b.id)).then(() => show('bots')).catch(fail); } }, t('delete')),
      ] : '')));
    view.append(section(t('tab_bots'), notice || null,
      table('bots-table', [t('name'), t('kind'), t('mode'), 'URL', ''], rows),
      canManage() ? formOf('bot-form', [input('name', t('name'), { required: true, maxlength: 100 }),
        input('webhook_url', 'URL', { type: 'url', required: true, placeholder: 'https://bot.example.com/hook' }),
        el('label', {}, t('mode') + ' ', el('select', { name: 'mode' }, options(['first', 'assist'], 'first')))], t('add_bot'),
      (f) => api('POST', base() + '/bots', { name: f.name.value, webhook_url: f.webhook_url.value, mode: f.mode.value })
        .then(({ data: d }) => { view.replaceChildren(); renderBots(view, secretNotice(t('new_token'), d.bot.token)); }).catch(fail)) : null));
  }

  async function renderWebhooks(view, notice) {
    const { data } = await api('GET', base() + '/webhooks').catch((e) => { fail(e); return { data: { webhooks: [] } }; });
    const rows = data.webhooks.map((w) => el('tr', { dataset: { webhookId: w.id } },
      el('td', {}, w.url), el('td', {}, (w.events || []).join(', ')), el('td', {}, w.enabled ? t('enabled') : t('disabled') + (w.disabled_reason ? ' (' + w.disabled_reason + ')' : '')),
      el('td', {},
        el('button', { type: 'button', class: 'show-deliveries', onclick: () => showDeliveries(view, w) }, t('deliveries')),
        canManage() ? el('button', { type: 'button', onclick: () => api('POST', base() + '/webhooks/' + encodeURIComponent(w.id) + '/rotate', {})
          .then(({ data: d }) => { view.replaceChildren(); renderWebhooks(view, secretNotice(t('new_secret'), d.webhook.secret)); }).catch(fail) }, t('rotate')) : null)));
    view.append(section(t('tab_webhooks'), notice || null,
      table('webhooks-table', ['URL', t('events'), t('state'), ''], rows),
      canManage() ? formOf('webhook-form', [input('url', 'URL', { type: 'url', required: true, placeholder: 'https://example.com/hooks' }),
        input('events', t('events'), { placeholder: 'message.received, conversation.created' })], t('add_webhook'),
      (f) => {
        const events = f.events.value.split(',').map((s) => s.trim()).filter(Boolean);
        const body = { url: f.url.value };
        if (events.length) body.events = events;
        api('POST', base() + '/webhooks', body).then(({ data: d }) => { view.replaceChildren(); renderWebhooks(view, secretNotice(t('new_secret'), d.webhook.secret)); }).catch(fail);
      }) : null,
      el('div', { id: 'deliveries' })));
  }

  async function showDeliveries(view, w) {
    const box = document.getElementById('deliveries');
    try {
      const { data } = await api('GET', base() + '/webhooks/' + encodeURIComponent(w.id) + '/deliveries?limit=50');
      box.replaceChildren(el('h3', {}, t('deliveries') + ' — ' + w.url), table('deliveries-table', [t('time'), t('event'), t('state'), t('attempts'), ''],
        data.deliveries.map((d) => el('tr', {}, el('td', {}, fmtTime(d.created_at)), el('td', {}, d.event), el('td', {}, d.status),
          el('td', {}, d.attempts.length ? d.attempts.map((a) => (a.status_code || a.error || '?')).join(', ') : '0'),
          el('td', {}, canManage() ? el('button', { type: 'button', onclick: () => api('POST', base() + '/webhooks/' + encodeURIComponent(w.id) + '/deliveries/' + encodeURIComponent(d.id) + '/resend', {})
            .then(() => { toast(t('resent'), 'ok'); showDeliveries(view, w); }).catch(fail) }, t('resend')) : '')))));
    } catch (err) { fail(err); }
  }

  async function renderBilling(view) {
    try {
      const [{ data: bal }, { data: led }] = await Promise.all([api('GET', base() + '/billing/balance'), api('GET', base() + '/billing/ledger?limit=50')]);
      view.append(section(t('tab_billing'),
        el('p', { class: 'balance', id: 'balance' }, t('balance') + ': ', el('strong', {}, bal.balance_usd + ' ' + bal.currency)),
        table('ledger-table', [t('time'), t('kind'), t('amount'), t('reason'), t('thread')], led.entries.map((e) => el('tr', {},
          el('td', {}, fmtTime(e.created_at)), el('td', {}, e.kind), el('td', { class: e.amount_micro_usd < 0 ? 'neg' : 'pos' }, (e.amount_micro_usd / 1e6).toFixed(6)),
          el('td', {}, e.reason), el('td', {}, e.thread_id || ''))))));
    } catch (err) { fail(err); }
  }

  // ---- reports ----

  function renderReports(view) {
    const today = new Date();
    const iso = (d) => d.toISOString().slice(0, 10);
    const from = new Date(today.getTime() - 13 * 86400000);
    const form = formOf('report-form', [input('start', t('from'), { type: 'date', value: iso(from), required: true }),
      input('end', t('to'), { type: 'date', value: iso(today), required: true })], t('show'), (f) => drawReports(f.start.value, f.end.value));
    view.append(section(t('tab_reports'), form, el('div', { id: 'charts', class: 'charts' })));
    drawReports(iso(from), iso(today));
  }

  // drawReports shows the reports of a date range; the answers for a range
  // asked before the last one are dropped when they land.
  async function drawReports(start, end) {
    const run = ++state.reportRun;
    const box = document.getElementById('charts');
    box.replaceChildren(el('p', { class: 'muted' }, t('loading')));
    try {
      const q = (extra) => api('GET', base() + '/reports?' + new URLSearchParams({ type: 'conversation', start_date: start, end_date: end, ...extra }).toString());
      const [{ data: byDay }, { data: byChannel }] = await Promise.all([q({}), q({ dimensions: 'channel' })]);
      if (run !== state.reportRun) return;
      const tot = byDay.total.metrics;
      const total = tot.conversations_created;
      const answered = tot.first_responses;
      box.replaceChildren(
        el('p', { id: 'report-totals' }, t('conversations') + ': ' + total + ' · ' + t('answered') + ': ' + answered +
          ' · ' + t('chart_frt') + ': ' + (answered ? (tot.first_response_avg_seconds / 60).toFixed(1) + ' ' + t('minutes') : '—') +
          ' · ' + byDay.time_zone),
        el('figure', { id: 'chart-frt' }, el('figcaption', {}, t('chart_frt_daily')),
          lineChart(byDay.series.filter((r) => r.metrics.first_responses).map((r) => ({ x: r.period, y: r.metrics.first_response_avg_seconds / 60 })), t('minutes'))),
        el('figure', { id: 'chart-volume' }, el('figcaption', {}, t('chart_volume')),
          barChart(byChannel.totals.filter((r) => r.metrics.conversations_created).map((r) => ({ x: r.dimension.channel, y: r.metrics.conversations_created })))));
    } catch (err) {
      if (run !== state.reportRun) return;
      box.replaceChildren(el('p', { class: 'error' }, t('reports_unavailable') + ' (' + err.message + ')'));
    }
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const n = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    for (const c of children.flat(Infinity)) if (c != null) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  }

  function lineChart(points, unit) {
    const W = 640, H = 220, P = 36;
    const max = Math.max(1, ...points.map((p) => p.y));
    const x = (i) => P + (points.length < 2 ? 0 : (i * (W - 2 * P)) / (points.length - 1));
    const y = (v) => H - P - (v / max) * (H - 2 * P);
    const path = points.map((p, i) => (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(p.y).toFixed(1)).join(' ');
    return svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img' },
      svg('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, class: 'axis' }),
      svg('line', { x1: P, y1: P, x2: P, y2: H - P, class: 'axis' }),
      svg('text', { x: 2, y: P - 8, class: 'label' }, max.toFixed(1) + ' ' + unit),
      points.length ? svg('path', { d: path, class: 'line' }) : null,
      points.map((p, i) => svg('circle', { cx: x(i), cy: y(p.y), r: 3, class: 'dot' }, svg('title', {}, p.x + ': ' + p.y.toFixed(1) + ' ' + unit))),
      points.length ? [svg('text', { x: P, y: H - 10, class: 'label' }, points[0].x), svg('text', { x: W - P - 70, y: H - 10, class: 'label' }, points[points.length - 1].x)] : null);
  }

  function barChart(bars) {
    const W = 640, rowH = 26, P = 120;
    const H = Math.max(1, bars.length) * rowH + 10;
    const max = Math.max(1, ...bars.map((b) => b.y));
    return svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img' },
      bars.map((b, i) => [
        svg('text', { x: 4, y: i * rowH + 18, class: 'label' }, b.x || '—'),
        svg('rect', { x: P, y: i * rowH + 5, width: Math.max(1, ((W - P - 60) * b.y) / max), height: rowH - 10, class: 'bar' }),
        svg('text', { x: P + ((W - P - 60) * b.y) / max + 6, y: i * rowH + 18, class: 'label' }, b.y),
      ]));
  }

  // ---- start ----

  async function start() {
    try {
      const res = await fetch('/console/session', { credentials: 'same-origin' });
      if (res.status === 401) { location.assign('/console/signin'); return; }
      state.session = (await res.json()).data;
      const { data } = await api('GET', '/console/socialops/instances');
      state.instances = data.instances;
    } catch (err) {
      document.getElementById('app').replaceChildren(el('p', { class: 'error' }, t('error') + ': ' + err.message));
      return;
    }
    let saved = null;
    try { saved = localStorage.getItem('socialops_instance'); } catch (_) { /* private mode */ }
    const aliases = state.instances.map((i) => i.alias);
    state.alias = aliases.includes(saved) ? saved : aliases[0] || null;
    renderShell();
    renderView();
    connect(true);
  }
  start();
}());
