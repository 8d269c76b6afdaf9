/**
 * The guest CPU time (user + system of the process, os.wait4 in the guest) of bare starts
 * in one QEMU TCG guest from the built image, rounds interleaved, medians: the image's
 * `node -e 0` and a node:http server to listening, each without and with a startup
 * snapshot made in that guest (`--build-snapshot` of an empty script, as buildpacks.py
 * made one until the image's Node had its own), and Python's `import http.server`; plus
 * the CPU of making the snapshot. The measurement behind dropping the VM's own snapshot
 * for the image's Node (#20; rootfs/README.md). Guest CPU still grows with the host's load (a descheduled vCPU
 * is time the guest counts), so compare within one run only.
 *
 *   npm run bench -- node-cpu [-- --rounds 10]
 */
import { loadavg } from 'node:os';
import { ensureBuilt } from '../e2e/cli-run.js';
import { hostSkipReason, startHostHarness } from '../helpers/host-harness.js';
import { runInGuest } from './guest-run.js';

const R = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 10) || 10;
const PY = String.raw`
import json, os, subprocess, sys, time
os.chdir("/tmp")
open("/tmp/empty.js", "w").close()
def run(argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, st, ru = os.wait4(p.pid, 0)
    return time.monotonic() - t0, ru.ru_utime + ru.ru_stime, st
w, c, st = run(["/usr/bin/node", "--snapshot-blob", "/tmp/b.blob", "--build-snapshot", "/tmp/empty.js"])
print(json.dumps({"case": "build-snapshot", "wall": w, "cpu": c, "st": st}), flush=True)
print(subprocess.run(["/usr/bin/node", "-v"], capture_output=True, text=True).stdout.strip(), flush=True)
HTTP = "require('http').createServer((q, s) => s.end('x')).listen(0, function () { this.close() })"
cases = {
  "node -e 0": ["/usr/bin/node", "-e", "0"],
  "node+blob -e 0": ["/usr/bin/node", "--snapshot-blob", "/tmp/b.blob", "-e", "0"],
  "node http listen": ["/usr/bin/node", "-e", HTTP],
  "node+blob http listen": ["/usr/bin/node", "--snapshot-blob", "/tmp/b.blob", "-e", HTTP],
  "python3 import http.server": ["/usr/bin/python3", "-c", "import http.server"],
}
for r in range(int(sys.argv[1])):
    for name, argv in cases.items():
        w, c, st = run(argv)
        print(json.dumps({"case": name, "wall": w, "cpu": c, "st": st, "load": os.getloadavg()[0]}), flush=True)
`;
ensureBuilt();
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}
const h = await startHostHarness();
try {
  const c = await h.api('POST', '/v1/vms', { name: 'cpu', memoryMib: 1024, swapMib: 256 });
  if (c.status !== 201) throw new Error(JSON.stringify(c.body));
  if ((await h.api('GET', '/v1/vms/cpu/wait?state=running&timeout=600')).status !== 200) throw new Error('no VM');
  const rows: Record<string, { wall: number[]; cpu: number[] }> = {};
  await runInGuest(h.env, 'cpu', ['python3', '-c', PY, String(R)], (line) => {
    console.error(line);
    if (!line.startsWith('{')) return;
    const j = JSON.parse(line) as { case: string; wall: number; cpu: number };
    (rows[j.case] ??= { wall: [], cpu: [] }).wall.push(j.wall);
    rows[j.case]!.cpu.push(j.cpu);
  });
  console.log(`guest CPU of each start, median of ${R} interleaved rounds; host load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
  for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(30)} wall ${med(v.wall).toFixed(2)} s  cpu ${med(v.cpu).toFixed(2)} s  (cpu ${v.cpu.map((x) => x.toFixed(2)).join(' ')})`);
} finally {
  await h.close();
}
