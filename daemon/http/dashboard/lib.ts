/**
 * The dashboard's pure logic, shipped as a plain browser script (no build
 * step, no DOM, no network): formatting, which actions a VM's state allows,
 * how a request to the API is built (the CSRF header on changes), problem
 * documents → messages. It defines one global, `fcmDash`; the page script
 * (app.ts) does the DOM and the fetching. Kept apart so a unit test can run
 * it in a bare `node:vm` context (test/unit/http/dashboard-lib.test.ts).
 */
export const DASHBOARD_LIB_JS = String.raw`var fcmDash = (function () {
  'use strict';

  var SAFE = { GET: true, HEAD: true };

  /** "45s", "12m", "5h", "3d" since iso (or "-" for nothing or the future beyond a minute of skew). */
  function age(iso, nowMs) {
    var t = Date.parse(iso);
    if (!iso || isNaN(t)) return '-';
    var s = Math.floor((nowMs - t) / 1000);
    if (s < -60) return '-';
    if (s < 60) return Math.max(0, s) + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 86400) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }

  function mib(n) {
    return n >= 1024 && n % 1024 === 0 ? n / 1024 + ' GiB' : n + ' MiB';
  }

  /** "1 vCPU · 1 GiB RAM · 2 GiB disk" */
  function size(vm) {
    return vm.vcpus + (vm.vcpus === 1 ? ' vCPU' : ' vCPUs') + ' · ' + mib(vm.memoryMib) + ' RAM · ' + mib(vm.diskMib) + ' disk';
  }

  /** Which buttons a VM in this state offers (the daemon decides in the end: invalid_state). */
  function actions(state) {
    return {
      start: state === 'stopped' || state === 'failed',
      stop: state === 'running' || state === 'starting',
      restart: state === 'running',
      console: state === 'running',
      destroy: state !== 'deleting',
    };
  }

  /** States still moving: the list polls faster while one is shown. */
  function busy(state) {
    return state === 'creating' || state === 'starting' || state === 'stopping' || state === 'deleting';
  }

  /**
   * One API request: same-origin, the session cookie sent by the browser,
   * X-FCM-CSRF on anything but GET/HEAD, JSON bodies. Returns [url, init] for fetch.
   */
  function request(method, path, body, csrf) {
    var headers = { accept: 'application/json' };
    if (!SAFE[method] && csrf) headers['x-fcm-csrf'] = csrf;
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return [path, init];
  }

  function vmPath(name, rest) {
    return '/v1/vms/' + encodeURIComponent(name) + (rest || '');
  }

  /** A problem document (or whatever came back) as one line for the status area. */
  function problemText(status, doc) {
    if (doc && typeof doc === 'object' && typeof doc.code === 'string') {
      var text = doc.code + ': ' + (doc.detail || doc.title || 'failed');
      if (doc.errors && doc.errors.length) text += ' (' + doc.errors.map(function (e) { return e.path + ' ' + e.message; }).join('; ') + ')';
      return text;
    }
    return 'HTTP ' + status;
  }

  /** The error a refused dashboard login left in the fragment (#error=...&error_description=...). */
  function fragmentError(hash) {
    if (!hash || hash.charAt(0) !== '#') return null;
    var q = new URLSearchParams(hash.slice(1));
    var code = q.get('error');
    if (!code || !/^[a-z_]{1,64}$/.test(code)) return null;
    return { code: code, description: (q.get('error_description') || '').slice(0, 500) };
  }

  /** Config var values are shown only when asked; the mask does not give away their length. */
  function mask() {
    return '••••••••';
  }

  var ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
  function validEnvKey(k) {
    return ENV_KEY.test(k);
  }

  var VM_NAME = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;
  function validVmName(n) {
    return n.length <= 40 && VM_NAME.test(n);
  }

  /** The create form's fields → a CreateVmRequest (empty fields left to the daemon's defaults); or {error}. */
  function createBody(f) {
    var body = {};
    var name = (f.name || '').trim();
    if (name) {
      if (!validVmName(name)) return { error: 'A name is lower-case letters, digits and single hyphens, starting with a letter (at most 40).' };
      body.name = name;
    }
    var ints = ['vcpus', 'memoryMib', 'diskMib'];
    for (var i = 0; i < ints.length; i++) {
      var v = (f[ints[i]] || '').trim();
      if (!v) continue;
      if (!/^[0-9]{1,6}$/.test(v)) return { error: ints[i] + ' must be a whole number.' };
      body[ints[i]] = Number(v);
    }
    return { body: body };
  }

  /** The last max lines of a growing log (a followed log must not grow the page forever). */
  function tail(text, max) {
    var lines = text.split('\n');
    return lines.length <= max ? text : lines.slice(lines.length - max).join('\n');
  }

  function sortByName(vms) {
    return vms.slice().sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
  }

  /** Health → rows [{name, ok, detail}]: the daemon's checks, its hypervisor, and what confines it. */
  function healthRows(h) {
    var rows = [];
    var checks = h.checks || {};
    Object.keys(checks).sort().forEach(function (k) {
      rows.push({ name: k, ok: !!checks[k].ok, detail: checks[k].detail || (checks[k].ok ? 'ok' : 'failing') });
    });
    rows.push({ name: 'hypervisor', ok: true, detail: h.hypervisor + ' (' + h.accel + ')' });
    if (h.confinement) {
      var c = h.confinement;
      var parts = ['user ' + c.user, c.seccomp ? 'seccomp' : 'no seccomp', c.mountNamespace ? 'own mount namespace' : 'shared mounts'];
      if (c.cgroups && c.cgroups.version) parts.push('cgroups ' + c.cgroups.version + ' (' + c.cgroups.limits.join(', ') + ')');
      else parts.push('no cgroup limits');
      rows.push({ name: 'confinement', ok: c.user !== 'root' && c.seccomp, detail: parts.join(', ') });
    }
    rows.push({ name: 'VMs', ok: true, detail: h.vms.running + ' running of ' + h.vms.total });
    return rows;
  }

  /** "v3 deploy a1b2c3d" */
  function releaseLabel(r) {
    return 'v' + r.version + ' ' + r.kind + (r.commit ? ' ' + r.commit.slice(0, 7) : '') + (r.rollbackOf ? ' (rollback to v' + r.rollbackOf + ')' : '');
  }

  /** Extra VM fields a daemon may add (e.g. sleep state) shown as they come, never assumed. */
  function sleepText(vm) {
    if (vm.sleep && typeof vm.sleep === 'object' && typeof vm.sleep.state === 'string') return vm.sleep.state;
    if (typeof vm.sleepState === 'string') return vm.sleepState;
    return null;
  }

  return {
    age: age, size: size, mib: mib, actions: actions, busy: busy, request: request, vmPath: vmPath,
    problemText: problemText, fragmentError: fragmentError, mask: mask, validEnvKey: validEnvKey,
    validVmName: validVmName, createBody: createBody, tail: tail, sortByName: sortByName,
    healthRows: healthRows, releaseLabel: releaseLabel, sleepText: sleepText,
  };
})();
`;
