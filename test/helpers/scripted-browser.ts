/**
 * The browser of a login test, scripted with fetch: follows redirects across
 * origins (provider → daemon → the CLI's loopback listener), keeps cookies
 * per host, and fills and submits HTML forms. Records every URL it visited,
 * so tests can find the codes that went through it.
 */
export interface Page {
  url: string;
  status: number;
  html: string;
}

export class ScriptedBrowser {
  readonly visited: string[] = [];
  private readonly cookies = new Map<string, Map<string, string>>();

  async open(url: string): Promise<Page> {
    return this.request(url, { method: 'GET' });
  }

  /** Submits the first form on the page whose action/id matches `which`, with its inputs overridden by `fields`. */
  async submit(page: Page, fields: Record<string, string>, which?: RegExp): Promise<Page> {
    const forms = [...page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
    const form = forms.find((f) => !which || which.test(f[1]!)) ?? null;
    if (!form) throw new Error(`no form${which ? ` matching ${which}` : ''} on ${page.url}:\n${page.html.slice(0, 2000)}`);
    const action = attr(form[1]!, 'action') ?? page.url;
    const values = new URLSearchParams();
    for (const m of form[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(m[1]!, 'name');
      if (name && !(name in fields)) values.set(name, attr(m[1]!, 'value') ?? '');
    }
    for (const [k, v] of Object.entries(fields)) values.set(k, v);
    return this.request(new URL(decode(action), page.url).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: values.toString(),
    });
  }

  /** Logs in at oidc-provider's development pages as `account`, approving consent; returns the last page (the CLI's). */
  async loginAtProvider(authorizeUrl: string, account: string): Promise<Page> {
    let page = await this.open(authorizeUrl);
    for (let i = 0; i < 5; i++) {
      if (/name="prompt" value="login"/.test(page.html)) page = await this.submit(page, { login: account, password: 'any' });
      else if (/name="prompt" value="consent"/.test(page.html)) page = await this.submit(page, {});
      else return page;
    }
    throw new Error(`stuck at ${page.url}`);
  }

  /** The device flow at oidc-provider: enter the user code, confirm, log in, consent. */
  async approveDevice(verificationUri: string, userCode: string, account: string): Promise<Page> {
    let page = await this.open(verificationUri);
    page = await this.submit(page, { user_code: userCode }, /deviceInputForm/);
    page = await this.submit(page, {}, /deviceConfirmForm/);
    for (let i = 0; i < 5; i++) {
      if (/name="prompt" value="login"/.test(page.html)) page = await this.submit(page, { login: account, password: 'any' });
      else if (/name="prompt" value="consent"/.test(page.html)) page = await this.submit(page, {});
      else return page;
    }
    throw new Error(`stuck at ${page.url}`);
  }

  private async request(url: string, init: RequestInit): Promise<Page> {
    for (let hops = 0; hops < 20; hops++) {
      this.visited.push(url);
      const u = new URL(url);
      const jar = this.cookies.get(u.host) ?? new Map<string, string>();
      this.cookies.set(u.host, jar);
      const headers = new Headers(init.headers);
      if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
      const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair!.indexOf('=');
        const name = pair!.slice(0, i).trim();
        const value = pair!.slice(i + 1).trim();
        if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') jar.delete(name);
        else jar.set(name, value);
      }
      const loc = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && loc) {
        await res.arrayBuffer();
        url = new URL(loc, url).toString();
        init = { method: 'GET' };
        continue;
      }
      return { url, status: res.status, html: await res.text() };
    }
    throw new Error('too many redirects');
  }
}

function attr(tag: string, name: string): string | null {
  const m = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag);
  return m ? decode(m[1]!) : null;
}

function decode(s: string): string {
  return s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#(\d+);/g, (_m, n) => String.fromCharCode(Number(n))).replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
