import type { TxtResolver } from '../../core/ports/txt-resolver.js';

/** In-memory twin of DnsTxt: records tests set; `fail` makes lookups throw like a dead server. */
export class MemoryTxt implements TxtResolver {
  readonly records = new Map<string, string[]>();
  fail: string | null = null;
  readonly asked: string[] = [];

  async txt(name: string): Promise<string[]> {
    this.asked.push(name);
    if (this.fail) throw Object.assign(new Error(`queryTxt ${this.fail} ${name}`), { code: this.fail });
    return [...(this.records.get(name) ?? [])];
  }
}
