/**
 * examples/pulumi as a program under Pulumi's mocks (no engine, no daemon):
 * what it registers, with which inputs and provider, and its typed outputs.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, test } from 'node:test';
import * as pulumi from '@pulumi/pulumi';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}
const registered: Registered[] = [];

pulumi.runtime.setMocks(
  {
    newResource(args) {
      registered.push({ type: args.type, name: args.name, inputs: args.inputs });
      const name = String(args.inputs['name']);
      return {
        id: name,
        state: {
          ...args.inputs,
          vmId: 'vm_0123456789ab',
          ip: '172.16.0.2',
          url: `https://${name}.example.test`,
          gitUrl: `root@example.test:${name}.git`,
          state: 'running',
        },
      };
    },
    call() {
      return {};
    },
  },
  'fcm-example',
  'dev',
  false,
);
pulumi.runtime.setConfig('fcm-example:memoryMib', '512');

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

let program: Record<string, pulumi.Output<unknown>>;
before(async () => {
  program = (await import('../../examples/pulumi/index.js')) as unknown as Record<string, pulumi.Output<unknown>>;
});

test('the example registers one fcm Vm with its inputs and a serialized provider', async () => {
  assert.equal(await value(program['url']!), 'https://web.example.test');
  const vm = registered.find((r) => r.name === 'web');
  assert.ok(vm, JSON.stringify(registered.map((r) => r.type)));
  assert.equal(vm.type, 'pulumi-nodejs:dynamic/fcm:Vm');
  assert.equal(vm.inputs['name'], 'web', 'name defaults to the resource name');
  assert.equal(vm.inputs['memoryMib'], 512, 'from stack config');
  assert.equal(typeof vm.inputs['__provider'], 'string');
  // What the host does with it (cmd/dynamic-provider: requireFromString(__provider).handler()).
  const requireFromString = createRequire(createRequire(import.meta.url).resolve('@pulumi/pulumi/package.json'))('require-from-string') as (code: string) => {
    handler(): Record<string, unknown>;
  };
  const provider = requireFromString(vm.inputs['__provider']).handler();
  for (const m of ['configure', 'check', 'diff', 'create', 'read', 'update', 'delete']) assert.equal(typeof provider[m], 'function', m);
});

test('typed outputs', async () => {
  assert.equal(await value(program['name']!), 'web');
  assert.equal(await value(program['ip']!), '172.16.0.2');
  assert.equal(await value(program['gitUrl']!), 'root@example.test:web.git');
  assert.equal(await value(program['state']!), 'running');
});

test('Vm: explicit name, every input passed through, outputs declared', async () => {
  const { Vm } = await import('../../provider/pulumi/index.js');
  const vm = new Vm('api', { name: 'api-prod', vcpus: 2, diskMib: 4096, running: false, domains: ['api.example.com'] });
  const [name, vcpus, url] = await Promise.all([value(vm.name), value(vm.vcpus), value(vm.url)]);
  assert.equal(name, 'api-prod');
  assert.equal(vcpus, 2);
  assert.equal(url, 'https://api-prod.example.test');
  const reg = registered.find((r) => r.name === 'api')!;
  assert.equal(reg.inputs['running'], false);
  assert.deepEqual(reg.inputs['domains'], ['api.example.com']);
});
