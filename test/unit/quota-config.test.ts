/** The quota, admission, DNS and cookie configuration keys: defaults, overrides, refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../daemon/config.js';
import { hostCapacity } from '../../daemon/core/admission.js';

test('defaults: quotas for one small team, no memory overcommit, 1 GiB reserve, 8 vCPUs per CPU, system resolvers, cookie stripping on', () => {
  const c = loadConfig({});
  assert.deepEqual(c.quotaDefaults, {
    vms: 10, vcpus: 10, memoryMib: 10240, diskMib: 40960, configVarsPerApp: 100, configBytesPerApp: 65536, repoMibPerApp: 1024, repoMibTotal: 4096, pendingDomains: 10,
  });
  assert.deepEqual(c.admission, { hostMemoryMib: null, hostCpus: null, memoryOvercommit: 1, memoryReserveMib: 1024, cpuOvercommit: 8 });
  assert.deepEqual(c.dnsResolvers, []);
  assert.equal(c.stripCookieDomain, true);
  assert.deepEqual(hostCapacity({ ...c.admission, hostMemoryMib: 24105, hostCpus: 2 }), { memoryMib: 23081, vcpus: 16 });
});

test('overrides are read and checked; bad values refuse to start', () => {
  const c = loadConfig({
    FCM_QUOTA_VMS: '3', FCM_QUOTA_MEMORY_MIB: '2048', FCM_HOST_MEMORY_MIB: '8192', FCM_HOST_CPUS: '4', FCM_MEMORY_OVERCOMMIT: '1.5',
    FCM_MEMORY_RESERVE_MIB: '0', FCM_CPU_OVERCOMMIT: '2', FCM_DNS_RESOLVERS: '10.0.0.53, 127.0.0.1:5353', FCM_STRIP_COOKIE_DOMAIN: 'false',
  });
  assert.deepEqual([c.quotaDefaults.vms, c.quotaDefaults.memoryMib, c.quotaDefaults.vcpus], [3, 2048, 10]);
  assert.deepEqual(c.admission, { hostMemoryMib: 8192, hostCpus: 4, memoryOvercommit: 1.5, memoryReserveMib: 0, cpuOvercommit: 2 });
  assert.deepEqual(hostCapacity({ ...c.admission, hostMemoryMib: c.admission.hostMemoryMib!, hostCpus: c.admission.hostCpus! }), { memoryMib: 12288, vcpus: 8 });
  assert.deepEqual(c.dnsResolvers, ['10.0.0.53', '127.0.0.1:5353']);
  assert.equal(c.stripCookieDomain, false);
  for (const [k, v] of [
    ['FCM_QUOTA_VMS', '-1'], ['FCM_QUOTA_VCPUS', 'many'], ['FCM_MEMORY_OVERCOMMIT', '0'], ['FCM_MEMORY_OVERCOMMIT', '1e3'], ['FCM_CPU_OVERCOMMIT', '-2'],
    ['FCM_HOST_MEMORY_MIB', '0'], ['FCM_DNS_RESOLVERS', 'dns.example.com'], ['FCM_DNS_RESOLVERS', '10.0.0.300'], ['FCM_DNS_RESOLVERS', '10.0.0.1:0'], ['FCM_STRIP_COOKIE_DOMAIN', 'maybe'],
  ] as const) {
    assert.throws(() => loadConfig({ [k]: v }), (e) => e instanceof ConfigError && e.message.includes(k), `${k}=${v}`);
  }
});
