/**
 * The dashboard's page script: a client of the REST API like the CLI, with
 * the session cookie instead of a bearer header and the session's CSRF token
 * on every change (lib.ts builds the requests). Text goes into the page only
 * through textContent / attributes, never as HTML. Live: the VM list polls
 * (faster while a VM is changing state), logs stream from `logs?follow=true`.
 * `window.fcmDashboard` exposes the state for tests.
 */
export const DASHBOARD_APP_JS = String.raw`(function () {
  'use strict';
  var D = window.fcmDash;
  function $(id) { return document.getElementById(id); }
  var st = { auth: 'unknown', csrf: null, user: null, vms: [], selected: null, env: {}, shown: {}, releases: [], logs: null, timers: {}, polls: 0 };
  window.fcmDashboard = st;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === 'className') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function button(label, aria, onClick, cls) {
    var b = el('button', { type: 'button', 'aria-label': aria, className: cls || '' }, label);
    b.addEventListener('click', onClick);
    return b;
  }
  function say(text) { $('status').textContent = text; $('alert').hidden = true; }
  function fail(e) {
    var a = $('alert');
    a.textContent = e && e.message ? e.message : String(e);
    a.hidden = false;
  }

  function api(method, path, body) {
    var r = D.request(method, path, body, st.csrf);
    return fetch(r[0], r[1]).then(function (res) {
      if (res.status === 204) return null;
      var json = /json/.test(res.headers.get('content-type') || '');
      return (json ? res.json() : res.text()).then(function (doc) {
        if (res.ok) return doc;
        if (res.status === 401 && st.auth === 'in') signedOut('Your session ended (signed out, expired or revoked). Sign in again.');
        var err = new Error(D.problemText(res.status, doc));
        err.status = res.status;
        err.code = doc && doc.code;
        throw err;
      });
    });
  }

  // ---- signing in and out ----
  function signedIn(s) {
    st.auth = 'in';
    st.csrf = s.csrfToken;
    st.user = s.user;
    document.body.setAttribute('data-auth', 'in');
    $('who').textContent = (s.user.email || s.user.name || s.user.id) + (s.user.admin ? ' (admin: every VM)' : '');
    $('who').hidden = false;
    $('signout').hidden = false;
    $('signin').hidden = true;
    $('app').hidden = false;
    $('vms-heading').textContent = s.user.admin ? 'All VMs' : 'Your VMs';
    refresh();
    health();
  }
  function signedOut(why) {
    st.auth = 'out';
    st.csrf = null;
    st.user = null;
    st.vms = [];
    stopLogs();
    Object.keys(st.timers).forEach(function (k) { clearTimeout(st.timers[k]); });
    st.timers = {};
    document.body.setAttribute('data-auth', 'out');
    $('who').hidden = true;
    $('signout').hidden = true;
    $('app').hidden = true;
    $('detail').hidden = true;
    st.selected = null;
    $('signin').hidden = false;
    if (why) fail(why);
    api('GET', '/v1/auth/config').then(function (c) {
      $('oidc').hidden = !(c.enabled && c.browser);
      if (c.issuer) $('oidc').textContent = 'Sign in with ' + new URL(c.issuer).host;
    }).catch(function () {});
  }
  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var input = $('token');
    var token = input.value.trim();
    input.value = '';
    if (!token) return fail('Paste a token first.');
    api('POST', '/v1/auth/session', { token: token }).then(function (s) { say('Signed in.'); signedIn(s); }, fail);
  });
  $('oidc').addEventListener('click', function () {
    api('POST', '/v1/auth/session/login').then(function (r) { location.assign(r.authorizeUrl); }, fail);
  });
  $('signout').addEventListener('click', function () {
    api('DELETE', '/v1/auth/session').then(function () { signedOut(); say('Signed out.'); }, fail);
  });

  // ---- the VM list ----
  function refresh() {
    clearTimeout(st.timers.vms);
    return api('GET', '/v1/vms').then(function (r) {
      st.vms = D.sortByName(r.vms);
      st.polls++;
      renderVms();
      if (st.selected && !st.vms.some(function (v) { return v.name === st.selected; })) closeDetail();
      else if (st.selected) renderDetailHead();
    }, function (e) { if (st.auth === 'in') fail(e); }).then(function () {
      if (st.auth !== 'in') return;
      var soon = st.vms.some(function (v) { return D.busy(v.state); });
      st.timers.vms = setTimeout(refresh, soon ? 1000 : 4000);
    });
  }

  function renderVms() {
    var tbody = $('vms').tBodies[0];
    var rows = {};
    Array.prototype.forEach.call(tbody.rows, function (tr) { rows[tr.getAttribute('data-name')] = tr; });
    var now = Date.now();
    st.vms.forEach(function (vm, i) {
      var tr = rows[vm.name];
      delete rows[vm.name];
      if (!tr) tr = newRow(vm.name);
      // In place: a row keeps its buttons (and the keyboard focus on them) across updates.
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
      updateRow(tr, vm, now);
    });
    Object.keys(rows).forEach(function (n) { rows[n].remove(); });
    $('no-vms').hidden = st.vms.length > 0;
  }

  function newRow(name) {
    var tr = el('tr', { 'data-name': name });
    var nameCell = el('th', { scope: 'row' });
    nameCell.appendChild(button(name, 'Details of ' + name, function () { select(name); }, 'link'));
    tr.appendChild(nameCell);
    ['state', 'url', 'ip', 'host', 'size', 'age'].forEach(function (c) { tr.appendChild(el('td', { 'data-col': c })); });
    var act = el('td', { 'data-col': 'actions' });
    act.appendChild(button('Start', 'Start ' + name, function () { lifecycle(name, 'start'); }));
    act.appendChild(button('Stop', 'Stop ' + name, function () { lifecycle(name, 'stop'); }));
    act.appendChild(button('Restart', 'Restart ' + name, function () { lifecycle(name, 'restart'); }));
    act.appendChild(button('Console', 'Open the console of ' + name, function () { openConsole(name); }));
    act.appendChild(button('Destroy', 'Destroy ' + name, function () { destroy(name); }, 'danger'));
    tr.appendChild(act);
    return tr;
  }

  function cell(tr, col) { return tr.querySelector('[data-col="' + col + '"]'); }
  function setText(e, t) { if (e.textContent !== t) e.textContent = t; }

  function updateRow(tr, vm, now) {
    var s = cell(tr, 'state');
    var sleep = D.sleepText(vm);
    setText(s, vm.state + (sleep ? ' (' + sleep + ')' : '') + (vm.state === 'failed' && vm.lastError ? ': ' + vm.lastError : ''));
    s.className = 'state state-' + vm.state;
    var u = cell(tr, 'url');
    var a = u.firstChild;
    if (!a || a.getAttribute('href') !== vm.url) {
      u.textContent = '';
      a = el('a', { href: vm.url, target: '_blank', rel: 'noopener noreferrer' }, vm.url.replace(/^https?:\/\//, ''));
      u.appendChild(a);
    }
    setText(cell(tr, 'ip'), vm.ip);
    setText(cell(tr, 'host'), vm.host || ('this server (' + vm.hypervisor + ')'));
    setText(cell(tr, 'size'), D.size(vm));
    setText(cell(tr, 'age'), D.age(vm.createdAt, now));
    var can = D.actions(vm.state);
    var b = cell(tr, 'actions').querySelectorAll('button');
    b[0].disabled = !can.start; b[1].disabled = !can.stop; b[2].disabled = !can.restart; b[3].disabled = !can.console; b[4].disabled = !can.destroy;
    tr.className = st.selected === vm.name ? 'selected' : '';
  }

  function lifecycle(name, verb) {
    say(verb.charAt(0).toUpperCase() + verb.slice(1) + ' ' + name + '…');
    api('POST', D.vmPath(name, '/' + verb)).then(function (vm) {
      say(name + ' is ' + vm.state + '.');
      refresh();
    }, function (e) { fail(e); refresh(); });
  }

  function openConsole(name) {
    // A single-use ticket, in the fragment of the console page's URL (never sent to a server).
    api('POST', D.vmPath(name, '/console/tickets')).then(function (t) {
      window.open(t.webUrl, '_blank', 'noopener');
      say('Console of ' + name + ' opened in a new tab.');
    }, fail);
  }

  function confirmDialog(title, text, ok) {
    return new Promise(function (resolve) {
      var d = $('confirm');
      $('confirm-title').textContent = title;
      $('confirm-text').textContent = text;
      $('confirm-ok').textContent = ok;
      function done(v) {
        $('confirm-ok').removeEventListener('click', yes);
        $('confirm-cancel').removeEventListener('click', no);
        d.removeEventListener('cancel', no);
        d.close();
        resolve(v);
      }
      function yes() { done(true); }
      function no() { done(false); }
      $('confirm-ok').addEventListener('click', yes);
      $('confirm-cancel').addEventListener('click', no);
      d.addEventListener('cancel', no);
      d.showModal();
      $('confirm-cancel').focus();
    });
  }

  function destroy(name) {
    confirmDialog('Destroy ' + name + '?', 'Its disk, releases, config vars and URL go with it. This cannot be undone.', 'Destroy ' + name).then(function (yes) {
      if (!yes) return say('Nothing destroyed.');
      say('Destroying ' + name + '…');
      api('DELETE', D.vmPath(name)).then(function () { say(name + ' destroyed.'); refresh(); }, function (e) { fail(e); refresh(); });
    });
  }

  $('create-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = ev.target.elements;
    var r = D.createBody({ name: f.name.value, vcpus: f.vcpus.value, memoryMib: f.memoryMib.value, diskMib: f.diskMib.value });
    if (r.error) return fail(r.error);
    say('Creating…');
    api('POST', '/v1/vms', r.body).then(function (vm) {
      ev.target.reset();
      say(vm.name + ' created (' + vm.state + ').');
      refresh();
      select(vm.name);
    }, fail);
  });

  // ---- one VM: releases, config vars, logs ----
  function select(name) {
    if (st.selected !== name) stopLogs();
    st.selected = name;
    st.shown = {};
    $('detail').hidden = false;
    $('release-log').hidden = true;
    $('release-log-heading').hidden = true;
    $('logs').textContent = '';
    renderDetailHead();
    Array.prototype.forEach.call($('vms').tBodies[0].rows, function (tr) { tr.className = tr.getAttribute('data-name') === name ? 'selected' : ''; });
    loadReleases();
    loadEnv();
    $('detail-heading').focus();
  }
  function closeDetail() {
    stopLogs();
    st.selected = null;
    $('detail').hidden = true;
  }
  function renderDetailHead() {
    var vm = st.vms.filter(function (v) { return v.name === st.selected; })[0];
    setText($('detail-name'), st.selected);
    if (vm) setText($('detail-git'), 'git remote add fcm ' + vm.gitUrl);
  }

  function loadReleases() {
    var name = st.selected;
    return api('GET', D.vmPath(name, '/releases')).then(function (r) {
      if (st.selected !== name) return;
      st.releases = r.releases;
      var tbody = $('releases').tBodies[0];
      tbody.textContent = '';
      var now = Date.now();
      var current = r.releases.filter(function (x) { return x.status === 'succeeded'; })[0];
      r.releases.forEach(function (rel) {
        var tr = el('tr', { 'data-version': String(rel.version) });
        tr.appendChild(el('th', { scope: 'row' }, D.releaseLabel(rel)));
        tr.appendChild(el('td', { className: rel.status === 'failed' ? 'bad' : rel.status === 'succeeded' ? 'ok' : '' }, rel.status + (current && current.version === rel.version ? ' (current)' : '')));
        tr.appendChild(el('td', null, rel.description));
        tr.appendChild(el('td', null, D.age(rel.createdAt, now)));
        var act = el('td');
        act.appendChild(button('Build log', 'Build log of v' + rel.version, function () { showReleaseLog(name, rel.version); }));
        if ((rel.status === 'succeeded' || rel.status === 'superseded') && !(current && current.version === rel.version)) {
          act.appendChild(button('Roll back', 'Roll back to v' + rel.version, function () { rollback(name, rel.version); }));
        }
        tr.appendChild(act);
        tbody.appendChild(tr);
      });
      $('no-releases').hidden = r.releases.length > 0;
    }, fail);
  }

  function showReleaseLog(name, version) {
    api('GET', D.vmPath(name, '/releases/' + version)).then(function (rel) {
      $('release-log-name').textContent = 'v' + version;
      $('release-log-heading').hidden = false;
      var pre = $('release-log');
      pre.textContent = rel.log || '(no output)';
      pre.hidden = false;
      pre.focus();
    }, fail);
  }

  function rollback(name, version) {
    say('Rolling back ' + name + ' to v' + version + '…');
    api('POST', D.vmPath(name, '/rollback'), { version: version }).then(function (rel) {
      say(name + ' rolled back: v' + rel.version + ' (' + rel.status + ').');
      loadReleases();
    }, fail);
  }

  function loadEnv() {
    var name = st.selected;
    return api('GET', D.vmPath(name, '/env')).then(function (r) {
      if (st.selected !== name) return;
      st.env = r.vars;
      renderEnv();
    }, fail);
  }
  function renderEnv() {
    var tbody = $('env').tBodies[0];
    tbody.textContent = '';
    var keys = Object.keys(st.env).sort();
    keys.forEach(function (k) {
      var tr = el('tr', { 'data-key': k });
      tr.appendChild(el('th', { scope: 'row' }, k));
      var shown = !!st.shown[k];
      tr.appendChild(el('td', { className: shown ? 'value' : 'value masked' }, shown ? st.env[k] : D.mask()));
      var act = el('td');
      var toggle = button(shown ? 'Hide' : 'Show', (shown ? 'Hide ' : 'Show ') + k, function () { st.shown[k] = !shown; renderEnv(); });
      toggle.setAttribute('aria-pressed', shown ? 'true' : 'false');
      act.appendChild(toggle);
      act.appendChild(button('Unset', 'Unset ' + k, function () { changeEnv({ unset: [k] }, 'Unset ' + k); }, 'danger'));
      tr.appendChild(act);
      tbody.appendChild(tr);
    });
    $('no-env').hidden = keys.length > 0;
  }
  function changeEnv(change, what) {
    var name = st.selected;
    say(what + ' on ' + name + '…');
    return api('PATCH', D.vmPath(name, '/env'), change).then(function (r) {
      if (st.selected !== name) return;
      st.env = r.vars;
      renderEnv();
      say(what + ' on ' + name + (r.release ? ': release v' + r.release + ', the app restarted.' : '.'));
      loadReleases();
    }, fail);
  }
  $('env-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var k = $('env-key').value.trim();
    var v = $('env-value').value;
    if (!D.validEnvKey(k)) return fail('A key is letters, digits and _, not starting with a digit.');
    var set = {};
    set[k] = v;
    changeEnv({ set: set }, 'Set ' + k).then(function () { $('env-key').value = ''; $('env-value').value = ''; });
  });

  function stopLogs() {
    if (st.logs) st.logs.abort();
    st.logs = null;
    $('logs-toggle').textContent = 'Follow logs';
    $('logs-toggle').setAttribute('aria-pressed', 'false');
  }
  $('logs-toggle').addEventListener('click', function () {
    if (st.logs) return stopLogs();
    var name = st.selected;
    var ac = new AbortController();
    st.logs = ac;
    $('logs-toggle').textContent = 'Stop following';
    $('logs-toggle').setAttribute('aria-pressed', 'true');
    var pre = $('logs');
    pre.textContent = '';
    var r = D.request('GET', D.vmPath(name, '/logs?follow=true&lines=200'), undefined, st.csrf);
    r[1].signal = ac.signal;
    fetch(r[0], r[1]).then(function (res) {
      if (!res.ok) return res.json().then(function (doc) { throw new Error(D.problemText(res.status, doc)); });
      var reader = res.body.getReader();
      var dec = new TextDecoder();
      var text = '';
      function pump() {
        return reader.read().then(function (c) {
          if (c.done) return;
          text = D.tail(text + dec.decode(c.value, { stream: true }), 2000);
          var stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.textContent = text;
          if (stick) pre.scrollTop = pre.scrollHeight;
          return pump();
        });
      }
      return pump();
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      fail(e);
    }).then(function () { if (st.logs === ac) stopLogs(); });
  });

  // ---- the daemon ----
  function health() {
    clearTimeout(st.timers.health);
    api('GET', '/v1/health').then(function (h) {
      setText($('health-status'), 'fcm ' + h.version + ': ' + h.status);
      $('health-status').className = h.status === 'ok' ? 'ok' : 'bad';
      var ul = $('health');
      ul.textContent = '';
      D.healthRows(h).forEach(function (row) {
        var li = el('li', { className: row.ok ? 'ok' : 'bad' });
        li.appendChild(el('strong', null, row.name + ': '));
        li.appendChild(document.createTextNode((row.ok ? '' : 'problem — ') + row.detail));
        ul.appendChild(li);
      });
    }, function () {}).then(function () {
      if (st.auth === 'in') st.timers.health = setTimeout(health, 15000);
    });
  }

  // ---- start ----
  var err = D.fragmentError(location.hash);
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  api('GET', '/v1/auth/session').then(signedIn, function () {
    signedOut(err ? 'Sign-in failed (' + err.code + '): ' + err.description : null);
  });
})();
`;
