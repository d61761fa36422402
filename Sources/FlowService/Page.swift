/// The page at `/`: the flows with their diagrams, and sessions run live against this same
/// JSON API (sign-in, start, events, the trace streamed from `/v1/sessions/{id}/stream`). One
/// self-contained document: its CSS and vanilla JavaScript are inline and it loads nothing else
/// (no CDN, no external scripts, fonts or images), so it works offline and on a loopback-only
/// host. The bearer token is kept in the page's memory only, server text is inserted as text
/// (never as HTML), and the page never asks for the dev inbox: codes and full phone numbers
/// never reach it.
enum Page {
  static let html: String = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>flowctl — flows</title>
    <style>
    :root {
      --fg: #1d2430; --muted: #5d6778; --line: #d6dbe4; --bg: #f4f6f9; --card: #fff;
      --accent: #2f6fde; --cur: #ffd23f; --cur-line: #b7791f; --err: #b42318; --ok: #1a7f37;
    }
    * { box-sizing: border-box; }
    body {
      margin: 0; color: var(--fg); background: var(--bg);
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
    }
    header {
      display: flex; align-items: center; gap: 16px; padding: 10px 20px;
      background: #1d2430; color: #fff;
    }
    header h1 { margin: 0; font-size: 18px; font-weight: 600; }
    #who { margin-left: auto; display: flex; align-items: center; gap: 10px; font-size: 13px; }
    #error {
      margin: 12px 20px 0; padding: 8px 12px; border: 1px solid #f1aeb5; border-radius: 6px;
      background: #fdecee; color: var(--err);
    }
    #error .field { font-weight: 600; }
    main {
      display: grid; grid-template-columns: minmax(0, 1.2fr) minmax(360px, 1fr);
      gap: 16px; padding: 12px 20px 24px; align-items: start;
    }
    main.signed-out { grid-template-columns: minmax(0, 560px); }
    #right { position: sticky; top: 12px; max-height: calc(100vh - 24px); overflow-y: auto; }
    .card {
      background: var(--card); border: 1px solid var(--line); border-radius: 8px;
      padding: 12px 14px; margin-bottom: 16px;
    }
    h2 { margin: 0 0 8px; font-size: 15px; }
    button {
      font: inherit; padding: 5px 12px; border-radius: 6px; border: 1px solid #2558b5;
      background: var(--accent); color: #fff; cursor: pointer;
    }
    button.secondary { background: #fff; color: var(--fg); border-color: var(--line); }
    button:disabled { opacity: .55; cursor: default; }
    input, select {
      font: inherit; padding: 4px 8px; border: 1px solid #b9c1ce; border-radius: 6px;
      background: #fff; color: var(--fg);
    }
    input[type=checkbox] { padding: 0; }
    .row { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 6px 0; }
    .muted { color: var(--muted); font-size: 12.5px; }
    code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
    #flows { list-style: none; margin: 0; padding: 0; }
    li.flow { border: 1px solid var(--line); border-radius: 7px; margin: 0 0 8px; }
    li.flow > .head { padding: 7px 10px; cursor: pointer; border-radius: 7px 7px 0 0; }
    li.flow > .head:hover { background: #f3f6fb; }
    li.flow.chosen { border-color: var(--accent); box-shadow: 0 0 0 1px var(--accent) inset; }
    li.flow.chosen > .head { background: #eaf1fd; }
    li.flow .title { font-weight: 600; }
    .diagram { padding: 6px 8px 8px; overflow-x: auto; border-top: 1px solid var(--line); }
    .diagram svg { display: block; margin: 0 auto; max-width: 100%; height: auto; }
    .note { margin: 6px 2px 0; font-size: 12.5px; color: var(--muted); }
    svg text {
      font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
    }
    g.state rect { fill: #edf2fb; stroke: #5a7bb5; stroke-width: 1.3; }
    g.state.transient rect { fill: #fff; stroke-dasharray: 4 3; }
    g.state.final rect { fill: #f2f3f5; stroke: #4a5261; }
    g.state.final rect.inner { fill: none; }
    g.state.start rect.box { stroke-width: 2; }
    g.state text.name { font-size: 12px; fill: #1d2430; }
    g.state.transient text.name { font-style: italic; }
    g.state text.outcome { font-size: 10.5px; fill: var(--muted); }
    g.state.current rect.box { fill: var(--cur); stroke: var(--cur-line); stroke-width: 2.5; }
    g.state.current rect.inner { stroke: var(--cur-line); }
    g.state.current text.name { font-weight: 700; }
    path.edge { fill: none; stroke: #7d8798; stroke-width: 1.3; }
    path.edge.timer { stroke: #b3bac6; stroke-dasharray: 5 4; }
    path.edge.always { stroke: #98a1b0; }
    g.label rect { fill: #fff; opacity: .92; }
    g.label text { font-size: 10.5px; fill: #39424f; }
    g.label.timer text { fill: #8a93a2; }
    g.label.always text { fill: #7d8798; font-style: italic; }
    circle.start-dot { fill: #1d2430; }
    #session-view dl {
      display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; margin: 0 0 10px;
    }
    #session-view dt { color: var(--muted); }
    #session-view dd { margin: 0; }
    #state { font-weight: 700; background: var(--cur); padding: 1px 6px; border-radius: 4px; }
    #outcome { font-weight: 700; }
    form.event {
      display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 8px 10px;
      margin: 0 0 8px; border: 1px solid var(--line); border-radius: 7px; background: #fafbfd;
    }
    form.event .ename { font-weight: 600; min-width: 110px; }
    form.event label { display: flex; align-items: center; gap: 6px; }
    form.event button { margin-left: auto; }
    #no-events { margin: 4px 0 0; }
    #trace {
      margin: 0; padding-left: 26px; max-height: 45vh; overflow-y: auto; font-size: 12.5px;
    }
    #trace li { padding: 4px 0; border-bottom: 1px solid #eef0f4; }
    #trace .time { color: var(--muted); font-family: ui-monospace, Menlo, Consolas, monospace; }
    #trace .kind {
      display: inline-block; margin: 0 6px; padding: 0 6px; border-radius: 10px;
      background: #e7edf8; color: #234; font-size: 11.5px;
    }
    #trace li.k-event-rejected .kind, #trace li.k-verification-failed .kind,
    #trace li.k-verification-locked .kind, #trace li.k-delivery-failed .kind,
    #trace li.k-session-expired .kind, #trace li.k-access-denied .kind {
      background: #fde2e1; color: var(--err);
    }
    #trace li.k-verification-succeeded .kind, #trace li.k-2fa-enabled .kind {
      background: #dcf3e3; color: var(--ok);
    }
    #trace .outcome { font-weight: 600; }
    #trace .detail { display: block; color: #39424f; margin-left: 2px; word-break: break-word; }
    #stream-status { float: right; font-weight: normal; }
    #stream-status.live { color: var(--ok); }
    </style>
    </head>
    <body>
    <header>
      <h1>flowctl — flows</h1>
      <div id="who" hidden>
        <span id="whoami"></span>
        <button id="signout" class="secondary" type="button">Sign out</button>
      </div>
    </header>
    <div id="error" role="alert" hidden></div>
    <main id="main" class="signed-out">
      <section id="signin-view" class="card">
        <h2>Sign in</h2>
        <form id="signin-form" autocomplete="off"></form>
        <p id="signin-note" class="muted"></p>
      </section>
      <div id="left" hidden>
        <section class="card">
          <h2>Flows</h2>
          <ul id="flows"></ul>
        </section>
      </div>
      <div id="right" hidden>
        <section class="card">
          <h2>Start a session</h2>
          <form id="start-form" autocomplete="off">
            <div class="row"><span class="muted">Flow</span> <strong id="chosen">—</strong></div>
            <div class="row">
              <label for="target" class="muted">Target</label>
              <span id="target-slot"></span>
              <button id="start" type="submit">Start</button>
            </div>
          </form>
        </section>
        <section id="session-view" class="card" hidden>
          <h2>Session</h2>
          <dl>
            <dt>Flow</dt><dd id="session-flow"></dd>
            <dt>Session</dt><dd><code id="session-id"></code></dd>
            <dt>State</dt><dd><span id="state"></span></dd>
            <dt id="outcome-label" hidden>Outcome</dt><dd id="outcome-value" hidden>
              <span id="outcome"></span></dd>
            <dt>Step</dt><dd id="seq"></dd>
            <dt>Expires</dt><dd id="expires"></dd>
          </dl>
          <div id="events"></div>
        </section>
        <section id="trace-view" class="card" hidden>
          <h2>Live trace <span id="stream-status" class="muted"></span></h2>
          <ol id="trace"></ol>
        </section>
      </div>
    </main>
    <script>
    'use strict';
    (() => {
      // State of the page. The token lives in this closure only: never in storage or cookies.
      let token = null;
      let devUsers = null; // [{id, name, role, account}] on a dry-run store; null otherwise
      let flows = [];
      let chosen = null; // the id of the chosen flow
      let session = null; // the session shown
      let stream = null; // the AbortController of its live stream
      let traceShown = 0; // trace rows shown for the session

      const $ = (id) => document.getElementById(id);
      const SVG = 'http://www.w3.org/2000/svg';

      // Elements are built with text nodes only: server text never goes through innerHTML.
      function el(tag, attrs, ...kids) {
        const node = document.createElement(tag);
        for (const [name, value] of Object.entries(attrs || {})) {
          if (value === false || value === null || value === undefined) continue;
          if (name === 'text') node.textContent = value;
          else node.setAttribute(name, value === true ? '' : String(value));
        }
        for (const kid of kids) node.append(kid);
        return node;
      }
      // Numbers to one decimal: short attributes, and no long runs of digits in the page.
      const r1 = (n) => Math.round(n * 10) / 10;
      function sv(tag, attrs, text) {
        const node = document.createElementNS(SVG, tag);
        for (const [name, value] of Object.entries(attrs || {})) {
          node.setAttribute(name, typeof value === 'number' ? String(r1(value)) : value);
        }
        if (text !== undefined) node.textContent = text;
        return node;
      }

      function showError(message, field) {
        const box = $('error');
        box.replaceChildren(document.createTextNode(message));
        if (field) {
          box.append(' (field ', el('span', { class: 'field', text: field }), ')');
        }
        box.hidden = false;
      }
      function clearError() {
        $('error').hidden = true;
        $('error').replaceChildren();
      }
      function problem(reply) {
        const error = reply.data && reply.data.error;
        if (error && typeof error.message === 'string') return [error.message, error.field];
        return ['the server answered HTTP ' + reply.status, undefined];
      }

      async function api(method, path, body, headers) {
        const sent = Object.assign({ Accept: 'application/json' }, headers || {});
        if (token) sent.Authorization = 'Bearer ' + token;
        const init = { method, headers: sent, cache: 'no-store', credentials: 'omit' };
        if (body !== undefined) {
          sent['Content-Type'] = 'application/json';
          init.body = JSON.stringify(body);
        }
        const response = await fetch(path, init);
        let data = null;
        try {
          data = await response.json();
        } catch (e) {
          data = null;
        }
        const reply = { status: response.status, data, headers: response.headers };
        if (response.status === 401 && token) {
          signOut();
          showError('The token was refused (expired or invalid): sign in again.', 'Authorization');
        }
        return reply;
      }

      function uuid() {
        if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
        const b = crypto.getRandomValues(new Uint8Array(16));
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
        return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)]
          .join('-');
      }

      // MARK: sign-in

      async function boot() {
        try {
          const response = await fetch('/v1/dev/users', { cache: 'no-store', credentials: 'omit' });
          if (response.ok) {
            const data = await response.json();
            if (data && Array.isArray(data.users)) devUsers = data.users;
          }
        } catch (e) {
          devUsers = null;
        }
        renderSignIn();
      }

      function renderSignIn() {
        const form = $('signin-form');
        form.replaceChildren();
        if (devUsers) {
          const select = el('select', { id: 'user' });
          for (const user of devUsers) {
            const label = `${user.name} (${user.id}, ${user.role}, ${user.account})`;
            select.append(el('option', { value: user.id, text: label }));
          }
          form.append(el('div', { class: 'row' },
            el('label', { for: 'user', text: 'Sign in as' }), select,
            el('button', { id: 'signin', type: 'submit', text: 'Sign in' })));
          $('signin-note').textContent =
            'A dry-run store: the page signs in as any of its users (a demo).';
        } else {
          const input = el('input', {
            id: 'token', type: 'password', size: 48, autocomplete: 'off', spellcheck: 'false',
            placeholder: 'a bearer token (flowctl token USER --auth-key FILE)',
          });
          form.append(el('div', { class: 'row' },
            el('label', { for: 'token', text: 'Bearer token' }), input,
            el('button', { id: 'signin', type: 'submit', text: 'Sign in' })));
          $('signin-note').textContent =
            'Paste a token; it is kept in this page only and forgotten when you leave it.';
        }
      }

      async function signIn(event) {
        event.preventDefault();
        clearError();
        let who = '';
        if (devUsers) {
          const user = $('user').value;
          const reply = await api('POST', '/v1/dev/token', { user });
          if (reply.status !== 200 || !reply.data || typeof reply.data.token !== 'string') {
            showError(...problem(reply));
            return;
          }
          token = reply.data.token;
          const known = devUsers.find((u) => u.id === user);
          who = known ? `${known.name} (${known.id})` : user;
        } else {
          const input = $('token');
          const text = input.value.trim();
          input.value = '';
          if (!text) {
            showError('Paste a bearer token to sign in.', 'token');
            return;
          }
          token = text;
          who = subjectOf(text);
        }
        const loaded = await loadFlows();
        if (!loaded) {
          token = null;
          return;
        }
        $('whoami').textContent = 'Signed in as ' + who;
        $('who').hidden = false;
        $('signin-view').hidden = true;
        $('main').classList.remove('signed-out');
        $('left').hidden = false;
        $('right').hidden = false;
        renderTarget();
      }

      function subjectOf(jwt) {
        try {
          const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
          const sub = JSON.parse(atob(part)).sub;
          return typeof sub === 'string' ? sub : 'the token\'s user';
        } catch (e) {
          return 'the token\'s user';
        }
      }

      function signOut() {
        token = null;
        if (stream) stream.abort();
        stream = null;
        session = null;
        $('who').hidden = true;
        $('whoami').textContent = '';
        $('left').hidden = true;
        $('right').hidden = true;
        $('session-view').hidden = true;
        $('trace-view').hidden = true;
        $('trace').replaceChildren();
        $('events').replaceChildren();
        $('flows').replaceChildren();
        $('main').classList.add('signed-out');
        $('signin-view').hidden = false;
        clearError();
        renderSignIn();
      }

      // MARK: flows

      async function loadFlows() {
        let reply;
        try {
          reply = await api('GET', '/v1/flows');
        } catch (e) {
          showError('The service cannot be reached: ' + e.message);
          return false;
        }
        if (reply.status !== 200 || !reply.data || !Array.isArray(reply.data.flows)) {
          if (token) showError(...problem(reply));
          return false;
        }
        flows = reply.data.flows;
        const list = $('flows');
        list.replaceChildren();
        for (const flow of flows) {
          const head = el('div', { class: 'head', role: 'button', tabindex: 0 },
            el('div', { class: 'title', text: flow.title || flow.id }),
            el('div', { class: 'meta muted' }, el('code', { text: flow.id }),
              ` · version ${flow.version} · ${flow.states.length} states`));
          const box = el('div', { class: 'diagram' });
          try {
            box.append(diagram(flow));
          } catch (e) {
            box.append(el('p', { class: 'note', text: 'The diagram could not be drawn: ' + e }));
          }
          for (const deadline of (flow.transitions || []).filter((t) => t.from === 'any_state')) {
            const when = deadline.timer || deadline.event || 'always';
            box.append(el('p', {
              class: 'note deadline',
              text: `Deadline: ${when}, from any state that is not final, to ${deadline.to}` +
                (deadline.actions && deadline.actions.length
                  ? ` (${deadline.actions.join(', ')})` : ''),
            }));
          }
          const item = el('li', { class: 'flow', 'data-flow': flow.id }, head, box);
          item.addEventListener('click', () => choose(flow.id));
          head.addEventListener('keydown', (e) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              choose(flow.id);
            }
          });
          list.append(item);
        }
        if (!flows.some((f) => f.id === chosen)) chosen = flows.length ? flows[0].id : null;
        choose(chosen);
        return true;
      }

      function choose(id) {
        chosen = id;
        for (const item of document.querySelectorAll('li.flow')) {
          const on = item.dataset.flow === id;
          item.classList.toggle('chosen', on);
          item.querySelector('.diagram').hidden = !on;
        }
        const flow = flows.find((f) => f.id === id);
        $('chosen').textContent = flow ? `${flow.title} (${flow.id})` : '—';
        $('start').disabled = !flow;
      }

      function renderTarget() {
        const slot = $('target-slot');
        slot.replaceChildren();
        if (devUsers) {
          const select = el('select', { id: 'target' });
          select.append(el('option', { value: '', text: 'yourself' }));
          for (const user of devUsers) {
            const label = `${user.name} (${user.id}, ${user.role}, ${user.account})`;
            select.append(el('option', { value: user.id, text: label }));
          }
          slot.append(select);
        } else {
          slot.append(el('input', {
            id: 'target', type: 'text', size: 16, autocomplete: 'off', spellcheck: 'false',
            placeholder: 'user id (empty: you)',
          }));
        }
      }

      // MARK: the diagram

      const measureContext = document.createElement('canvas').getContext('2d');
      function textWidth(text, size, weight) {
        measureContext.font = `${weight || 400} ${size}px system-ui, -apple-system, "Segoe UI", ` +
          'Roboto, Helvetica, Arial, sans-serif';
        return Math.ceil(measureContext.measureText(text).width);
      }

      // A layered drawing, top to bottom: back edges (found by a depth-first search from the
      // start) are turned round so the rest is acyclic, states go on the layer of their longest
      // path from the start, long edges pass through dummy points, layers are ordered by
      // barycentre sweeps (keeping the order with the fewest crossings), and x positions are
      // the least-squares fit to the neighbours' positions that keeps the boxes apart.
      function layout(flow) {
        const names = flow.states.slice();
        const known = new Set(names);
        const finals = flow.finals || {};
        const transitions = (flow.transitions || []).filter((t) => t.from !== 'any_state' &&
          known.has(t.from) && known.has(t.to));
        const loops = new Map();
        const merged = new Map();
        for (const t of transitions) {
          const label = t.event || t.timer || 'always';
          const kind = t.event ? 'event' : t.timer ? 'timer' : 'always';
          const tip = [t.from + ' → ' + t.to + ': ' + label,
            t.condition ? 'when ' + t.condition : '',
            t.actions && t.actions.length ? 'do ' + t.actions.join(', ') : ''].filter(Boolean);
          const key = t.from + '\n' + t.to;
          const table = t.from === t.to ? loops : merged;
          if (!table.has(key)) {
            table.set(key, { from: t.from, to: t.to, labels: [], kinds: new Set(), tips: [] });
          }
          const edge = table.get(key);
          if (!edge.labels.includes(label)) edge.labels.push(label);
          edge.kinds.add(kind);
          edge.tips.push(tip.join('; '));
        }
        const edges = [...merged.values()];
        edges.forEach((e, i) => { e.index = i; });
        const out = new Map(names.map((n) => [n, []]));
        for (const e of edges) out.get(e.from).push(e);

        // Back edges and a topological order of the rest (reverse postorder), without recursion.
        const mark = new Map();
        const post = [];
        const start = known.has(flow.start) ? flow.start : names[0];
        for (const root of [start, ...names]) {
          if (root === undefined || mark.has(root)) continue;
          const stack = [[root, 0]];
          mark.set(root, 1);
          while (stack.length) {
            const top = stack[stack.length - 1];
            const next = out.get(top[0])[top[1]++];
            if (!next) {
              mark.set(top[0], 2);
              post.push(top[0]);
              stack.pop();
            } else if (mark.get(next.to) === 1) {
              next.back = true;
            } else if (!mark.has(next.to)) {
              mark.set(next.to, 1);
              stack.push([next.to, 0]);
            }
          }
        }
        const layerOf = new Map(names.map((n) => [n, 0]));
        for (const n of post.slice().reverse()) {
          for (const e of out.get(n)) {
            if (!e.back) layerOf.set(e.to, Math.max(layerOf.get(e.to), layerOf.get(n) + 1));
          }
        }

        // Nodes: states and dummies; chains: each edge as a list of nodes, upper layer first.
        const nodes = [];
        const byName = new Map();
        const discovery = new Map(post.slice().reverse().map((n, i) => [n, i]));
        for (const n of names) {
          const final = Object.prototype.hasOwnProperty.call(finals, n);
          const outcome = final ? String(finals[n]) : '';
          const nameW = textWidth(n, 12, 400) + 8;
          const w = Math.max(64, nameW, final ? textWidth('⇒ ' + outcome, 10.5) : 0) + 22;
          const loop = loops.get(n + '\n' + n);
          const loopLabel = loop ? loop.labels.join(' / ') : '';
          const node = {
            name: n, layer: layerOf.get(n), w, h: final ? 42 : 30, final, outcome, loop, loopLabel,
            lw: w / 2, rw: w / 2 + (loop ? 30 + textWidth(loopLabel, 10.5) : 0),
            order: discovery.get(n), up: [], down: [], dummy: false,
          };
          node.transient = out.get(n).length > 0 && !loop &&
            transitions.filter((t) => t.from === n).every((t) => !t.event && !t.timer);
          nodes.push(node);
          byName.set(n, node);
        }
        for (const e of edges) {
          let a = byName.get(e.from);
          let b = byName.get(e.to);
          if (e.back) [a, b] = [b, a];
          const chain = [a];
          for (let l = a.layer + 1; l < b.layer; l++) {
            const d = {
              dummy: true, layer: l, w: 0, h: 0, lw: 5, rw: 5, up: [], down: [], order: a.order,
            };
            nodes.push(d);
            chain.push(d);
          }
          chain.push(b);
          for (let i = 0; i + 1 < chain.length; i++) {
            chain[i].down.push(chain[i + 1]);
            chain[i + 1].up.push(chain[i]);
          }
          e.chain = chain;
        }
        const depth = Math.max(0, ...nodes.map((n) => n.layer)) + 1;
        const layers = Array.from({ length: depth }, () => []);
        for (const n of nodes) layers[n.layer].push(n);
        for (const layer of layers) layer.sort((p, q) => p.order - q.order);
        const index = () => layers.forEach((layer) => layer.forEach((n, i) => { n.pos = i; }));
        index();

        const crossings = () => {
          let count = 0;
          for (let l = 0; l + 1 < depth; l++) {
            const segments = [];
            for (const n of layers[l]) for (const m of n.down) segments.push([n.pos, m.pos]);
            for (let i = 0; i < segments.length; i++) {
              for (let j = i + 1; j < segments.length; j++) {
                const [a, b] = segments[i];
                const [c, d] = segments[j];
                if ((a - c) * (b - d) < 0) count++;
              }
            }
          }
          return count;
        };
        const mean = (list, key) => list.reduce((s, n) => s + n[key], 0) / list.length;
        let best = layers.map((layer) => layer.slice());
        let fewest = crossings();
        for (let round = 0; round < 16 && fewest > 0; round++) {
          const down = round % 2 === 0;
          const range = down ? [...Array(depth).keys()].slice(1)
            : [...Array(depth).keys()].reverse().slice(1);
          for (const l of range) {
            const layer = layers[l];
            for (const n of layer) {
              const near = down ? n.up : n.down;
              n.bary = near.length ? mean(near, 'pos') : n.pos;
            }
            layer.sort((p, q) => p.bary - q.bary || p.pos - q.pos);
            layer.forEach((n, i) => { n.pos = i; });
          }
          const count = crossings();
          if (count < fewest) {
            fewest = count;
            best = layers.map((layer) => layer.slice());
          }
        }
        best.forEach((layer, l) => { layers[l] = layer; });
        index();

        // x: repeatedly move every node towards its neighbours, keeping each layer's order and
        // gaps (pool-adjacent-violators: the least-squares fit under the order constraints).
        const gap = (p, q) => p.rw + q.lw + (p.dummy || q.dummy ? 8 : 26);
        const place = (layer, wanted) => {
          const offset = [0];
          for (let i = 1; i < layer.length; i++) {
            offset[i] = offset[i - 1] + gap(layer[i - 1], layer[i]);
          }
          const blocks = [];
          layer.forEach((n, i) => {
            const weight = n.dummy ? 2 : 1;
            blocks.push({ sum: (wanted[i] - offset[i]) * weight, weight, size: 1 });
            while (blocks.length > 1) {
              const b = blocks[blocks.length - 1];
              const a = blocks[blocks.length - 2];
              if (a.sum / a.weight <= b.sum / b.weight) break;
              blocks.pop();
              a.sum += b.sum;
              a.weight += b.weight;
              a.size += b.size;
            }
          });
          let i = 0;
          for (const b of blocks) {
            for (let k = 0; k < b.size; k++, i++) layer[i].x = b.sum / b.weight + offset[i];
          }
        };
        for (const layer of layers) place(layer, layer.map(() => 0));
        const sweep = (near) => {
          for (const layer of layers) {
            place(layer, layer.map((n) => {
              const list = near(n);
              return list.length ? mean(list, 'x') : n.x;
            }));
          }
        };
        for (let round = 0; round < 24; round++) {
          sweep((n) => n.up);
          layers.reverse();
          sweep((n) => n.down);
          layers.reverse();
        }
        for (let round = 0; round < 6; round++) sweep((n) => n.up.concat(n.down));

        const margin = 16;
        const top = 34;
        const minX = Math.min(...nodes.map((n) => n.x - n.lw));
        for (const n of nodes) n.x += margin - minX;
        const width = Math.max(...nodes.map((n) => n.x + n.rw)) + margin;
        let y = top;
        const gapY = 60;
        for (const layer of layers) {
          const h = Math.max(0, ...layer.map((n) => n.h));
          for (const n of layer) {
            n.top = y + (h - n.h) / 2;
            n.y = y + h / 2;
            n.bandTop = y;
            n.bandBottom = y + h;
          }
          y += h + gapY;
        }
        const height = y - gapY + margin;

        // Ports: the ends of edges on a box's top and bottom, spread in the order of where the
        // edges go, so that two edges between the same boxes (one each way) stay apart.
        const ends = new Map();
        const endOn = (node, side, toward, e) => {
          const key = node.name + '\n' + side;
          if (!ends.has(key)) ends.set(key, []);
          const end = { x: toward.x, e, node };
          ends.get(key).push(end);
          return end;
        };
        for (const e of edges) {
          const c = e.chain;
          e.first = endOn(c[0], 'bottom', c[1], e);
          e.last = endOn(c[c.length - 1], 'top', c[c.length - 2], e);
        }
        for (const list of ends.values()) {
          list.sort((p, q) => p.x - q.x || p.e.index - q.e.index);
          const node = list[0].node;
          const span = Math.min(node.w - 16, 26 * (list.length - 1));
          list.forEach((end, i) => {
            end.px = node.x + (list.length > 1 ? -span / 2 + (span * i) / (list.length - 1) : 0);
          });
        }
        for (const e of edges) {
          const c = e.chain;
          const points = [[e.first.px, c[0].top + c[0].h]];
          for (const d of c.slice(1, -1)) points.push([d.x, d.bandTop], [d.x, d.bandBottom]);
          const end = c[c.length - 1];
          points.push([e.last.px, end.top - 1]);
          if (e.back) points.reverse();
          e.points = points;
        }
        return { nodes: nodes.filter((n) => !n.dummy), edges, width, height, start };
      }

      function cubic(p, q) {
        const dy = (q[1] - p[1]) / 2;
        return [p, [p[0], p[1] + dy], [q[0], q[1] - dy], q];
      }
      function at(c, t) {
        const s = 1 - t;
        const k = [s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t];
        return [0, 1].map((i) => c.reduce((sum, p, j) => sum + k[j] * p[i], 0));
      }
      function overlap(a, b) {
        const x = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
        const y = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
        return x > 0 && y > 0 ? x * y : 0;
      }

      let markerCount = 0;
      function diagram(flow) {
        const g = layout(flow);
        const marker = 'arrow' + markerCount++;
        const svg = sv('svg', {
          viewBox: `0 0 ${r1(g.width)} ${r1(g.height)}`, width: g.width, height: g.height,
          role: 'img', 'aria-label': `The states of ${flow.id}`,
        });
        const defs = sv('defs');
        const head = sv('marker', {
          id: marker, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
          orient: 'auto-start-reverse',
        });
        head.append(sv('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#6b7586' }));
        defs.append(head);
        svg.append(defs);
        const edgeLayer = sv('g', { class: 'edges' });
        const nodeLayer = sv('g', { class: 'states' });
        const labelLayer = sv('g', { class: 'labels' });
        svg.append(edgeLayer, nodeLayer, labelLayer);

        const taken = g.nodes.map((n) => ({ x: n.x - n.w / 2 - 2, y: n.top - 2, w: n.w + 4,
          h: n.h + 4 }));
        const kindOf = (kinds) => (kinds.has('event') ? 'event' : kinds.has('timer') ? 'timer'
          : 'always');
        for (const e of g.edges) {
          const kind = kindOf(e.kinds);
          const curves = [];
          const xy = (p) => `${r1(p[0])},${r1(p[1])}`;
          let d = `M${xy(e.points[0])}`;
          for (let i = 0; i + 1 < e.points.length; i++) {
            const c = cubic(e.points[i], e.points[i + 1]);
            curves.push(c);
            d += ` C${xy(c[1])} ${xy(c[2])} ${xy(c[3])}`;
          }
          const path = sv('path', { d, class: 'edge ' + kind, 'marker-end': `url(#${marker})` });
          path.append(sv('title', {}, e.tips.join('\n')));
          edgeLayer.append(path);

          const text = e.labels.join(' / ');
          const w = textWidth(text, 10.5) + 8;
          const h = 15;
          // The first spot along the edge, on it or beside it, that covers no box or label;
          // failing that, the one that covers least.
          let spot = null;
          let least = Infinity;
          const order = curves.length > 1 ? [0, curves.length - 1, ...curves.keys()] : [0];
          search: for (const ci of order) {
            for (const t of [0.5, 0.35, 0.65, 0.25, 0.75]) {
              const [cx, cy] = at(curves[ci], t);
              for (const x of [cx - w / 2, cx + 4, cx - w - 4]) {
                const box = { x, y: cy - h / 2, w, h };
                const covered = taken.reduce((sum, b) => sum + overlap(b, box), 0);
                if (covered < least) {
                  least = covered;
                  spot = box;
                }
                if (covered === 0) break search;
              }
            }
          }
          taken.push(spot);
          const label = sv('g', { class: 'label ' + kind });
          label.append(sv('rect', { x: spot.x, y: spot.y, width: w, height: h, rx: 3 }));
          label.append(sv('text', {
            x: spot.x + w / 2, y: spot.y + h / 2 + 3.6, 'text-anchor': 'middle',
          }, text));
          label.append(sv('title', {}, e.tips.join('\n')));
          labelLayer.append(label);
        }

        const first = g.nodes.find((n) => n.name === g.start);
        if (first) {
          const dot = sv('circle', { class: 'start-dot', cx: first.x, cy: 8, r: 5 });
          svg.insertBefore(dot, edgeLayer);
          edgeLayer.append(sv('path', {
            class: 'edge', d: `M${r1(first.x)},13 L${r1(first.x)},${r1(first.top - 1)}`,
            'marker-end': `url(#${marker})`,
          }));
        }

        for (const n of g.nodes) {
          const classes = ['state'];
          if (n.final) classes.push('final');
          if (n.transient) classes.push('transient');
          if (n.name === g.start) classes.push('start');
          const group = sv('g', { class: classes.join(' '), 'data-state': n.name });
          const left = n.x - n.w / 2;
          group.append(sv('rect', { class: 'box', x: left, y: n.top, width: n.w, height: n.h,
            rx: n.final ? 8 : 6 }));
          if (n.final) {
            group.append(sv('rect', { class: 'inner', x: left + 3, y: n.top + 3, width: n.w - 6,
              height: n.h - 6, rx: 5 }));
            group.append(sv('text', { class: 'name', x: n.x, y: n.top + 18,
              'text-anchor': 'middle' }, n.name));
            group.append(sv('text', { class: 'outcome', x: n.x, y: n.top + 32,
              'text-anchor': 'middle' }, '⇒ ' + n.outcome));
          } else {
            group.append(sv('text', { class: 'name', x: n.x, y: n.top + 19,
              'text-anchor': 'middle' }, n.name));
          }
          const tip = n.final ? `${n.name}: final, outcome ${n.outcome}`
            : n.transient ? `${n.name}: decided at once (no event)` : n.name;
          group.append(sv('title', {}, tip));
          if (n.loop) {
            const r = r1(n.x + n.w / 2);
            const y = r1(n.y);
            const kind = kindOf(n.loop.kinds);
            const loop = sv('path', {
              class: 'edge ' + kind, 'marker-end': `url(#${marker})`,
              d: `M${r},${y - 7} C${r + 26},${y - 18} ${r + 26},${y + 18} ${r + 1},${y + 7}`,
            });
            loop.append(sv('title', {}, n.loop.tips.join('\n')));
            edgeLayer.append(loop);
            const w = textWidth(n.loopLabel, 10.5) + 8;
            const label = sv('g', { class: 'label ' + kind });
            label.append(sv('rect', { x: r + 24, y: n.y - 7.5, width: w, height: 15, rx: 3 }));
            label.append(sv('text', { x: r + 28, y: n.y + 3.6 }, n.loopLabel));
            labelLayer.append(label);
          }
          nodeLayer.append(group);
        }
        return svg;
      }

      // MARK: sessions

      async function startSession(event) {
        event.preventDefault();
        clearError();
        if (!chosen) return;
        const body = { flow: chosen };
        const target = $('target').value.trim();
        if (target) body.target = target;
        $('start').disabled = true;
        let reply;
        try {
          reply = await api('POST', '/v1/sessions', body);
        } catch (e) {
          showError('The service cannot be reached: ' + e.message);
          return;
        } finally {
          $('start').disabled = !chosen;
        }
        if (reply.status === 201 && reply.data && reply.data.id) {
          show(reply.data);
        } else if (token) {
          showError(...problem(reply));
        }
      }

      // Shows a session: a new one gets a fresh trace and its own live stream.
      function show(s) {
        if (!session || session.id !== s.id) {
          if (stream) stream.abort();
          session = null;
          traceShown = 0;
          $('trace').replaceChildren();
          $('session-view').hidden = false;
          $('trace-view').hidden = false;
          if (flows.some((f) => f.id === s.flow)) choose(s.flow);
          render(s);
          openStream(s.id);
        } else {
          render(s);
        }
      }

      function render(s) {
        if (!s || typeof s.id !== 'string') return;
        if (session && session.id === s.id && s.seq < session.seq) return; // an older view
        const changed = !session || session.id !== s.id || session.seq !== s.seq ||
          session.final !== s.final || session.state !== s.state;
        session = s;
        const flow = flows.find((f) => f.id === s.flow);
        $('session-flow').textContent = flow ? `${flow.title} (${s.flow} v${s.version})`
          : `${s.flow} v${s.version}`;
        $('session-id').textContent = s.id;
        $('state').textContent = s.state;
        $('seq').textContent = String(s.seq);
        $('expires').textContent = s.expiresAt ? new Date(s.expiresAt).toLocaleString() : '';
        const final = Boolean(s.final);
        $('outcome').textContent = final && s.outcome !== null ? String(s.outcome) : '';
        $('outcome-label').hidden = !final;
        $('outcome-value').hidden = !final;
        for (const node of document.querySelectorAll('g.state.current')) {
          node.classList.remove('current');
        }
        const item = [...document.querySelectorAll('li.flow')]
          .find((i) => i.dataset.flow === s.flow);
        if (item) {
          const node = [...item.querySelectorAll('g.state')]
            .find((g) => g.getAttribute('data-state') === s.state);
          if (node) {
            node.classList.add('current');
            if (changed && !item.querySelector('.diagram').hidden) {
              node.scrollIntoView({ block: 'nearest', inline: 'nearest' });
            }
          }
        }
        if (changed) renderEvents(s);
      }

      function renderEvents(s) {
        const box = $('events');
        box.replaceChildren();
        if (s.final) {
          box.append(el('p', { id: 'no-events', class: 'muted',
            text: 'The session has ended: no more events.' }));
          return;
        }
        if (!s.allowedEvents || !s.allowedEvents.length) {
          box.append(el('p', { id: 'no-events', class: 'muted',
            text: 'Nothing to do here: the session waits for a timer.' }));
          return;
        }
        for (const event of s.allowedEvents) {
          const form = el('form', {
            class: 'event', 'data-event': event.event, autocomplete: 'off',
          });
          form.append(el('span', { class: 'ename', text: event.event }));
          for (const field of event.payload || []) {
            let input;
            if (field.type === 'bool') {
              input = el('input', { type: 'checkbox', name: field.name });
            } else if (field.type === 'int') {
              input = el('input', { type: 'number', name: field.name, step: 1, required: true });
            } else {
              input = el('input', {
                type: 'text', name: field.name, required: true, autocomplete: 'off',
                spellcheck: 'false', size: 16,
                inputmode: { code: 'numeric', phone: 'tel', int: 'numeric' }[field.type] || null,
                placeholder: field.type === 'phone' ? '+15550100000' : field.type,
              });
            }
            form.append(el('label', {}, el('span', { class: 'muted', text: field.name }), input));
          }
          form.append(el('button', { type: 'submit', text: 'Send ' + event.event }));
          form.addEventListener('submit', (e) => submit(e, form, event));
          box.append(form);
        }
      }

      function enableButtons(on) {
        for (const button of document.querySelectorAll('form.event button')) {
          button.disabled = !on;
        }
      }

      async function submit(e, form, event) {
        e.preventDefault();
        clearError();
        if (!session) return;
        const payload = {};
        for (const field of event.payload || []) {
          const input = form.elements.namedItem(field.name);
          if (!input) continue;
          if (field.type === 'bool') {
            payload[field.name] = input.checked;
          } else if (field.type === 'int') {
            payload[field.name] = Number.parseInt(input.value, 10);
          } else {
            payload[field.name] = input.value;
          }
        }
        // Nothing typed stays on the page: a code or a full phone number is gone once sent.
        for (const input of form.querySelectorAll('input')) {
          if (input.type === 'checkbox') input.checked = false;
          else input.value = '';
        }
        enableButtons(false);
        const s = session;
        const body = { event: event.event, payload, seq: s.seq };
        const key = uuid();
        const path = `/v1/sessions/${encodeURIComponent(s.id)}/events`;
        let reply = null;
        for (let attempt = 0; attempt < 2 && !reply; attempt++) {
          try {
            reply = await api('POST', path, body, { 'Idempotency-Key': key });
          } catch (error) {
            // The same key again: if the first request did arrive, its answer comes back.
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        }
        enableButtons(true);
        if (!reply) {
          showError('The service cannot be reached; the step may not have been taken.');
          return;
        }
        const data = reply.data || {};
        if (data.session && session && data.session.id !== session.id) return; // another session
        switch (reply.status) {
          case 200:
            render(data.session);
            break;
          case 409:
            render(data.session);
            showError('The session moved on meanwhile (another tab or process took a step); ' +
              'this is where it is now. Nothing was changed.', 'seq');
            break;
          case 410:
            render(data.session);
            showError(data.rejection ? `The session has ended: ${data.rejection.reason}`
              : 'The session has ended.');
            break;
          case 422:
            if (data.session) {
              render(data.session);
              const r = data.rejection || {};
              showError(`Rejected (${r.kind}): ${r.reason}`);
            } else {
              showError(...problem(reply));
            }
            break;
          case 429: {
            const [message, field] = problem(reply);
            showError(message, field);
            break;
          }
          default:
            if (token) showError(...problem(reply));
        }
      }

      // MARK: the live stream (fetch, since EventSource cannot send the Authorization header)

      function openStream(id) {
        const control = new AbortController();
        stream = control;
        const path = `/v1/sessions/${encodeURIComponent(id)}/stream`;
        const status = (text, live) => {
          $('stream-status').textContent = text;
          $('stream-status').classList.toggle('live', Boolean(live));
        };
        const connect = async () => {
          let seen = 0; // trace entries received on this connection
          let message = { event: 'message', data: [] };
          const dispatch = () => {
            const { event, data } = message;
            message = { event: 'message', data: [] };
            if (!data.length || stream !== control) return;
            let value;
            try {
              value = JSON.parse(data.join('\n'));
            } catch (e) {
              return;
            }
            if (event === 'session') {
              if (value && value.id === id) render(value);
            } else if (event === 'trace' && Array.isArray(value)) {
              for (const entry of value) {
                // A new connection repeats the entries from the start: skip those shown.
                if (seen++ < traceShown) continue;
                appendTrace(entry);
                traceShown++;
              }
            }
          };
          const line = (text) => {
            if (text === '') return dispatch();
            if (text.startsWith(':')) return undefined;
            const colon = text.indexOf(':');
            const field = colon < 0 ? text : text.slice(0, colon);
            let value = colon < 0 ? '' : text.slice(colon + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'event') message.event = value;
            else if (field === 'data') message.data.push(value);
            return undefined;
          };
          try {
            const response = await fetch(path, {
              headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
              cache: 'no-store', credentials: 'omit', signal: control.signal,
            });
            if (response.status === 401) {
              signOut();
              showError('The token was refused (expired or invalid): sign in again.',
                'Authorization');
              return;
            }
            if (response.status === 404 || response.status === 403) {
              status('not available (HTTP ' + response.status + ')');
              return;
            }
            if (!response.ok || !response.body) throw new Error('HTTP ' + response.status);
            status('● live', true);
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            let buffer = '';
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              buffer += value;
              for (;;) {
                const i = buffer.search(/[\r\n]/);
                if (i < 0) break;
                if (buffer[i] === '\r' && i === buffer.length - 1) break; // maybe \r\n, split
                const skip = buffer[i] === '\r' && buffer[i + 1] === '\n' ? 2 : 1;
                line(buffer.slice(0, i));
                buffer = buffer.slice(i + skip);
              }
            }
          } catch (e) {
            if (control.signal.aborted) return;
          }
          if (control.signal.aborted || stream !== control) return;
          if (session && session.id === id && session.final) {
            status('ended');
            return;
          }
          status('reconnecting…');
          setTimeout(() => {
            if (stream === control && !control.signal.aborted && token) connect();
          }, 1000);
        };
        connect();
      }

      function appendTrace(entry) {
        if (!entry || typeof entry !== 'object') return;
        const kind = String(entry.kind || '');
        const row = el('li', { class: 'k-' + kind.replace(/[^a-z0-9-]/gi, '') });
        const time = typeof entry.time === 'number' ? new Date(entry.time * 1000).toISOString()
          : typeof entry.time === 'string' ? entry.time : '';
        const clock = time.match(/T(\d\d:\d\d:\d\d)/);
        row.append(el('span', { class: 'time', title: time, text: clock ? clock[1] : time }));
        row.append(el('span', { class: 'kind', text: kind }));
        if (entry.outcome !== undefined && entry.outcome !== null) {
          row.append(el('span', { class: 'outcome', text: String(entry.outcome) }));
        }
        if (entry.detail !== undefined && entry.detail !== null) {
          row.append(el('span', { class: 'detail', text: String(entry.detail) }));
        }
        const list = $('trace');
        const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
        list.append(row);
        if (atBottom) list.scrollTop = list.scrollHeight;
      }

      $('signin-form').addEventListener('submit', signIn);
      $('start-form').addEventListener('submit', startSession);
      $('signout').addEventListener('click', signOut);
      boot();
    })();
    </script>
    </body>
    </html>
    """#
}
