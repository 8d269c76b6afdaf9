/**
 * The dashboard's page and style. The page is static: it holds no user data
 * and no secret (everything comes from the API, as for any other client), so
 * it needs no auth and is the same for everyone. No inline script or style
 * (the CSP forbids both), no external resource of any kind.
 *
 * Accessibility: landmarks and headings, a skip link, every control labelled
 * (row buttons name their VM: "Stop web-1"), state shown as text (never by
 * colour alone), a polite live region for results and an alert for errors,
 * focus kept on rows updated in place, visible focus, AA contrast.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>fcm dashboard</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head>
<body data-auth="unknown">
<a class="skip" href="#vms-heading">Skip to your VMs</a>
<header>
  <h1>fcm</h1>
  <p id="who" hidden></p>
  <nav aria-label="Elsewhere"><a href="/docs">API reference</a></nav>
  <button id="signout" type="button" hidden>Sign out</button>
</header>
<p id="status" role="status" aria-live="polite"></p>
<p id="alert" role="alert" hidden></p>
<main>
<section id="signin" aria-labelledby="signin-heading" hidden>
  <h2 id="signin-heading">Sign in</h2>
  <p><button id="oidc" type="button" hidden>Sign in with your identity provider</button></p>
  <form id="token-form" novalidate>
    <label for="token">Or paste an fcm token (from <code>fcm login</code>: the contents of <code>~/.fcm-token</code>)</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" minlength="10" maxlength="200" required>
    <button type="submit">Sign in with the token</button>
  </form>
  <p class="note">The token is sent once, to this daemon, which gives this browser a session of its own: a cookie scripts cannot read, ended by signing out.</p>
</section>

<div id="app" hidden>
<section aria-labelledby="vms-heading">
  <h2 id="vms-heading" tabindex="-1">Your VMs</h2>
  <table id="vms">
    <caption class="sr-only">Your VMs, updated live</caption>
    <thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">URL</th><th scope="col">IP</th><th scope="col">Host</th><th scope="col">Size</th><th scope="col">Age</th><th scope="col">Actions</th></tr></thead>
    <tbody></tbody>
  </table>
  <p id="no-vms" hidden>No VMs yet: create one below (or <code>fcm create</code>).</p>
  <form id="create-form" novalidate>
    <fieldset>
      <legend>Create a VM</legend>
      <label for="new-name">Name <span class="hint">(optional: one is made up)</span></label>
      <input id="new-name" name="name" autocomplete="off" spellcheck="false" maxlength="40" pattern="[a-z]([a-z0-9-]*[a-z0-9])?">
      <label for="new-vcpus">vCPUs</label>
      <input id="new-vcpus" name="vcpus" inputmode="numeric" placeholder="1" maxlength="2">
      <label for="new-memory">Memory (MiB)</label>
      <input id="new-memory" name="memoryMib" inputmode="numeric" placeholder="1024" maxlength="6">
      <label for="new-disk">Disk (MiB)</label>
      <input id="new-disk" name="diskMib" inputmode="numeric" placeholder="2048" maxlength="6">
      <button type="submit">Create</button>
    </fieldset>
  </form>
</section>

<section id="detail" aria-labelledby="detail-heading" hidden>
  <h2 id="detail-heading" tabindex="-1">VM <span id="detail-name"></span></h2>
  <p>Deploy: <code id="detail-git"></code> — <code>git push fcm main</code></p>
  <section aria-labelledby="releases-heading">
    <h3 id="releases-heading">Releases</h3>
    <table id="releases">
      <caption class="sr-only">Releases, newest first</caption>
      <thead><tr><th scope="col">Release</th><th scope="col">Status</th><th scope="col">Description</th><th scope="col">Age</th><th scope="col">Actions</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-releases" hidden>No releases yet: push with git to deploy.</p>
    <h4 id="release-log-heading" hidden>Build log of <span id="release-log-name"></span></h4>
    <pre id="release-log" tabindex="0" aria-labelledby="release-log-heading" hidden></pre>
  </section>
  <section aria-labelledby="env-heading">
    <h3 id="env-heading">Config vars</h3>
    <table id="env">
      <caption class="sr-only">Config vars; values are hidden until shown</caption>
      <thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">Actions</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-env" hidden>No config vars.</p>
    <form id="env-form" novalidate>
      <fieldset>
        <legend>Set a config var (the app restarts with it)</legend>
        <label for="env-key">Key</label>
        <input id="env-key" name="key" autocomplete="off" spellcheck="false" maxlength="128">
        <label for="env-value">Value</label>
        <input id="env-value" name="value" type="password" autocomplete="off" spellcheck="false">
        <button type="submit">Set</button>
      </fieldset>
    </form>
  </section>
  <section aria-labelledby="logs-heading">
    <h3 id="logs-heading">Logs</h3>
    <p><button id="logs-toggle" type="button" aria-pressed="false">Follow logs</button></p>
    <pre id="logs" tabindex="0" aria-labelledby="logs-heading"></pre>
  </section>
</section>

<section aria-labelledby="health-heading">
  <h2 id="health-heading">Daemon health</h2>
  <p id="health-status"></p>
  <ul id="health"></ul>
</section>
</div>
</main>

<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <h2 id="confirm-title"></h2>
  <p id="confirm-text"></p>
  <p class="buttons"><button id="confirm-cancel" type="button">Cancel</button> <button id="confirm-ok" type="button" class="danger"></button></p>
</dialog>
<script src="/dashboard/assets/lib.js"></script>
<script src="/dashboard/assets/app.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root { --fg: #1a1a1a; --muted: #4a4a4a; --bg: #ffffff; --line: #c8c8c8; --accent: #0b57a4; --ok: #146c2e; --bad: #a11d1d; --busy: #7a4d00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1rem; align-items: center; padding: .5rem 1rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.3rem; }
header nav { margin-left: auto; }
main { padding: 0 1rem 2rem; max-width: 80rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
th[scope="row"] { white-space: nowrap; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
pre { background: #f3f3f3; color: #111; padding: .6rem; max-height: 24rem; overflow: auto; white-space: pre-wrap; word-break: break-all; }
button { font: inherit; padding: .2rem .6rem; margin: 0 .15rem .15rem 0; border: 1px solid #666; border-radius: 4px; background: #f6f6f6; color: var(--fg); cursor: pointer; }
button:disabled { color: #6b6b6b; border-color: #aaa; cursor: not-allowed; }
button.danger { border-color: var(--bad); color: var(--bad); }
button.link { border: none; background: none; color: var(--accent); text-decoration: underline; padding: 0; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
input { font: inherit; padding: .2rem .4rem; border: 1px solid #666; border-radius: 4px; margin: 0 .6rem .3rem .2rem; }
fieldset { border: 1px solid var(--line); margin: 1rem 0; }
.state { font-weight: 600; }
.state-running, .ok { color: var(--ok); }
.state-failed, .bad { color: var(--bad); }
.state-creating, .state-starting, .state-stopping, .state-deleting { color: var(--busy); }
#status { min-height: 1.5em; margin: .3rem 1rem; color: var(--muted); }
#alert { margin: .3rem 1rem; color: var(--bad); font-weight: 600; }
.hint, .note { color: var(--muted); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .2rem .5rem; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
dialog { border: 2px solid var(--fg); border-radius: 6px; max-width: 30rem; }
dialog::backdrop { background: rgba(0, 0, 0, .4); }
tr.selected { background: #eef4fb; }
`;
