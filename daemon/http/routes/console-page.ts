/**
 * The web console: one static page plus its script and style, served by the
 * daemon next to xterm.js from node_modules (no CDN: the page must work on
 * an offline host). The page itself holds no secret and needs no auth; the
 * WebSocket does. The ticket travels in the URL *fragment*
 * (`/console/<vm>#ticket=...`), which browsers never send to a server, so it
 * stays out of access logs, proxies and Referer headers; the script moves it
 * from the fragment into the WebSocket URL and wipes it from the address bar.
 */

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function consolePageHtml(vm: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(vm)} — fcm console</title>
<link rel="stylesheet" href="/console/assets/xterm.css">
<link rel="stylesheet" href="/console/assets/console.css">
</head>
<body>
<header><strong id="vm">${esc(vm)}</strong><span id="status" data-state="connecting">connecting…</span></header>
<main id="term"></main>
<script src="/console/assets/xterm.js"></script>
<script src="/console/assets/console.js"></script>
</body>
</html>
`;
}

export const CONSOLE_CSS = `html, body { margin: 0; height: 100%; background: #111; color: #ddd; font: 14px system-ui, sans-serif; }
body { display: flex; flex-direction: column; }
header { display: flex; gap: 1em; align-items: baseline; padding: 6px 10px; background: #222; border-bottom: 1px solid #333; }
#status { color: #9a9; }
#status[data-state="closed"], #status[data-state="error"] { color: #e88; }
#term { flex: 1; min-height: 0; padding: 4px; }
`;

/** Plain browser script (no build step); `window.fcmConsole` is for tests. */
export const CONSOLE_JS = String.raw`(function () {
  'use strict';
  var vm = decodeURIComponent(location.pathname.split('/')[2] || '');
  var frag = new URLSearchParams(location.hash.slice(1));
  var ticket = frag.get('ticket');
  // The ticket is single-use: keep it out of the address bar, history and bookmarks.
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);

  var statusEl = document.getElementById('status');
  function status(text, state) {
    statusEl.textContent = text;
    statusEl.setAttribute('data-state', state);
    window.fcmConsole.state = state;
  }

  var term = new Terminal({ cursorBlink: true, scrollback: 5000, fontFamily: 'DejaVu Sans Mono, Menlo, Consolas, monospace', fontSize: 14 });
  window.fcmConsole = { term: term, state: 'connecting', vm: vm };
  var el = document.getElementById('term');
  term.open(el);

  // Fit the terminal to its box: measure one character cell in the terminal's font.
  function cell() {
    var probe = document.createElement('span');
    probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre;font-family:' + term.options.fontFamily + ';font-size:' + term.options.fontSize + 'px;line-height:normal';
    probe.textContent = 'WWWWWWWWWW';
    document.body.appendChild(probe);
    var r = probe.getBoundingClientRect();
    probe.remove();
    return { w: r.width / 10, h: r.height };
  }
  function fit() {
    var c = cell();
    var cols = Math.max(20, Math.floor((el.clientWidth - 8) / c.w));
    var rows = Math.max(5, Math.floor((el.clientHeight - 8) / c.h));
    if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
  }
  fit();

  if (!ticket) {
    status('no ticket in the link: run  fcm console --web ' + vm + '  for a fresh one', 'error');
    return;
  }

  var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/vms/' + encodeURIComponent(vm) + '/console?ticket=' + encodeURIComponent(ticket));
  ws.binaryType = 'arraybuffer';
  var enc = new TextEncoder();
  var opened = false;
  var exited = null;
  function sendSize() {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
  }
  ws.onmessage = function (e) {
    if (typeof e.data !== 'string') return term.write(new Uint8Array(e.data));
    var m;
    try { m = JSON.parse(e.data); } catch (err) { return; }
    if (m.type === 'hello') {
      opened = true;
      status('connected', 'open');
      sendSize();
      term.focus();
    } else if (m.type === 'exit') {
      exited = m.reason;
    } else if (m.type === 'error') {
      term.write('\r\n[fcm: ' + m.message + ']\r\n');
    }
  };
  ws.onclose = function (e) {
    if (exited) return status('console closed: ' + exited, 'closed');
    if (!opened) return status('could not connect (the link works once and for 60 s; run  fcm console --web ' + vm + '  for a new one)', 'error');
    status('disconnected' + (e.reason ? ': ' + e.reason : '') + ' (the shell keeps running; run  fcm console --web ' + vm + '  to come back)', 'closed');
  };
  term.onData(function (d) { if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
  term.onBinary(function (d) {
    if (ws.readyState !== WebSocket.OPEN) return;
    var b = new Uint8Array(d.length);
    for (var i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 255;
    ws.send(b);
  });
  var t = null;
  window.addEventListener('resize', function () {
    clearTimeout(t);
    t = setTimeout(function () { fit(); sendSize(); }, 100);
  });
  window.fcmConsole.ws = ws;
})();
`;
