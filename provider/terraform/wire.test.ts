import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, encode, ExtData } from '@msgpack/msgpack';
import {
  conform,
  containsUnknown,
  decodeDynamicValue,
  decodeJson,
  decodeMsgpack,
  encodeDynamicValue,
  encodeMsgpack,
  inferType,
  isUnknown,
  parseType,
  typeToJson,
  UNKNOWN,
  Unknown,
  valuesEqual,
  WireError,
  type CtyType,
  type Value,
} from './wire.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const roundTrip = (v: unknown, t: CtyType): Value => decodeMsgpack(encodeMsgpack(v, t), t);

describe('cty types', () => {
  test('type JSON is compact, object attributes sorted like cty', () => {
    assert.equal(typeToJson('string'), '"string"');
    assert.equal(typeToJson(['list', 'string']), '["list","string"]');
    assert.equal(typeToJson(['object', { b: 'number', a: ['set', 'bool'] }]), '["object",{"a":["set","bool"],"b":"number"}]');
    assert.equal(typeToJson(['tuple', ['string', ['map', 'number']]]), '["tuple",["string",["map","number"]]]');
  });

  test('parseType accepts schema bytes/strings and rejects garbage', () => {
    assert.equal(parseType('"string"'), 'string');
    assert.equal(parseType('number'), 'number');
    assert.deepEqual(parseType('["object",{"a":["list","string"]}]'), ['object', { a: ['list', 'string'] }]);
    assert.deepEqual(parseType(['object', { a: 'string' }, ['a']]), ['object', { a: 'string' }, ['a']]);
    assert.throws(() => parseType('["list"]'), WireError);
    assert.throws(() => parseType('"float"'), WireError);
    assert.throws(() => parseType(['object', ['a']]), WireError);
  });

  test('inferType for dynamic values', () => {
    assert.deepEqual(inferType({ a: 1, b: ['x', true] }), ['object', { a: 'number', b: ['tuple', ['string', 'bool']] }]);
  });
});

describe('msgpack DynamicValue', () => {
  test('primitives round-trip', () => {
    assert.equal(roundTrip('héllo', 'string'), 'héllo');
    assert.equal(roundTrip(42, 'number'), 42);
    assert.equal(roundTrip(-7, 'number'), -7);
    assert.equal(roundTrip(1.5, 'number'), 1.5);
    assert.equal(roundTrip(true, 'bool'), true);
    assert.equal(roundTrip(null, 'string'), null);
    assert.equal(roundTrip(undefined, 'number'), null);
  });

  test('numbers: msgpack int, float, int64 and decimal strings', () => {
    assert.equal(decodeMsgpack(encode(3), 'number'), 3);
    assert.equal(decodeMsgpack(encode(2.25), 'number'), 2.25);
    // int64 beyond 2^53 stays exact
    assert.equal(decodeMsgpack(encode(2n ** 62n, { useBigInt64: true }), 'number'), 2n ** 62n);
    // Terraform sends numbers that do not fit a float64 as decimal strings
    assert.equal(decodeMsgpack(encode('123456789012345678901234567890'), 'number'), 123456789012345678901234567890n);
    assert.equal(decodeMsgpack(encode('0.1'), 'number'), 0.1);
    assert.equal(decodeMsgpack(encode('17'), 'number'), 17);
    assert.throws(() => decodeMsgpack(encode('abc'), 'number'), WireError);
    // encoding: int64 range as msgpack integer, beyond as a string
    assert.equal(decode(encodeMsgpack(2n ** 62n, 'number'), { useBigInt64: true }), 2n ** 62n);
    assert.equal(decode(encodeMsgpack(10n ** 30n, 'number')), '1000000000000000000000000000000');
    assert.equal(roundTrip(10n ** 30n, 'number'), 10n ** 30n);
    assert.equal(hex(encodeMsgpack(1, 'number')), '01');
  });

  test('unknown values: ext 0 out, any extension in (refinements parsed from ext 12)', () => {
    assert.equal(hex(encodeMsgpack(UNKNOWN, 'string')), 'd40000');
    assert.ok(isUnknown(decodeMsgpack(Buffer.from('d40000', 'hex'), 'string')));
    assert.ok(isUnknown(decodeMsgpack(encode(new ExtData(5, new Uint8Array([1, 2]))), 'number')));
    assert.ok(isUnknown(decodeMsgpack(encode(new ExtData(-1, new Uint8Array(4))), 'string')), 'timestamp ext is not a Date');
    // ext 12 payload: {1: false (not null), 2: "pre"} with integer keys
    const payload = Buffer.from([0x82, 0x01, 0xc2, 0x02, 0xa3, 0x70, 0x72, 0x65]);
    const refined = decodeMsgpack(encode(new ExtData(12, payload)), 'string');
    assert.ok(refined instanceof Unknown);
    assert.deepEqual(refined.refinements, { nullness: false, stringPrefix: 'pre' });
    // number bounds and collection length refinements
    const nb = Buffer.from([0x83, 0x03, 0x92, 0x01, 0xc3, 0x04, 0x92, 0x0a, 0xc2, 0x05, 0x02]);
    const r2 = decodeMsgpack(encode(new ExtData(12, nb)), 'number') as Unknown;
    assert.deepEqual(r2.refinements, { numberLower: { value: 1, inclusive: true }, numberUpper: { value: 10, inclusive: false }, lengthLower: 2 });
  });

  test('nested objects, lists, sets, maps with unknowns inside', () => {
    const t: CtyType = [
      'object',
      {
        name: 'string',
        ports: ['list', ['object', { port: 'number', proto: 'string' }]],
        tags: ['set', 'string'],
        env: ['map', 'string'],
        pair: ['tuple', ['string', 'bool']],
      },
    ];
    const v = {
      name: 'app',
      ports: [
        { port: 80, proto: 'tcp' },
        { port: UNKNOWN, proto: null },
      ],
      tags: ['b', 'a'],
      env: { A: '1', B: UNKNOWN },
      pair: ['x', false],
    };
    const back = roundTrip(v, t) as Record<string, any>;
    assert.equal(back['name'], 'app');
    assert.deepEqual(back['ports'][0], { port: 80, proto: 'tcp' });
    assert.ok(isUnknown(back['ports'][1].port));
    assert.equal(back['ports'][1].proto, null);
    assert.deepEqual(back['tags'], ['b', 'a']);
    assert.ok(isUnknown(back['env'].B));
    assert.deepEqual(back['pair'], ['x', false]);
    assert.ok(containsUnknown(back));
    assert.ok(!containsUnknown({ ...back, ports: [], env: {} }));
    // a wholly unknown collection
    assert.ok(isUnknown(roundTrip(UNKNOWN, ['list', 'string'])));
  });

  test('objects: missing attributes encode as null, undeclared ones are dropped', () => {
    const t: CtyType = ['object', { a: 'string', b: 'number' }];
    const bytes = encodeMsgpack({ a: 'x', extra: 1 }, t);
    assert.deepEqual(decode(bytes), { a: 'x', b: null });
    // and decoding fills attributes Terraform left out
    assert.deepEqual(decodeMsgpack(encode({ a: 'x' }), t), { a: 'x', b: null });
  });

  test('primitive coercion like Terraform conversion, errors carry the path', () => {
    const t: CtyType = ['object', { s: 'string', n: 'number', b: 'bool', l: ['list', 'number'] }];
    assert.deepEqual(conform({ s: 12, n: '3.5', b: 'true', l: ['1', 2] }, t), { s: '12', n: 3.5, b: true, l: [1, 2] });
    assert.equal(conform(new Date(0), 'string'), '1970-01-01T00:00:00.000Z');
    assert.throws(() => encodeMsgpack({ l: [1, 'x'] }, t), /l\[1\]: invalid number "x"/);
    assert.throws(() => encodeMsgpack({ b: 'yes' }, t), /b: expected bool/);
    assert.throws(() => encodeMsgpack('a', ['list', 'string']), WireError);
    assert.throws(() => encodeMsgpack(NaN, 'number'), /NaN/);
  });

  test('dynamic values carry their type in-band', () => {
    const bytes = encodeMsgpack({ a: 1, b: 'x' }, 'dynamic');
    const raw = decode(bytes) as [Uint8Array, unknown];
    assert.equal(new TextDecoder().decode(raw[0]), '["object",{"a":"number","b":"string"}]');
    assert.deepEqual(raw[1], { a: 1, b: 'x' });
    assert.deepEqual(decodeMsgpack(bytes, 'dynamic'), { a: 1, b: 'x' });
    assert.deepEqual(roundTrip({ list: [1, 2] }, ['object', { list: 'dynamic' }]), { list: [1, 2] });
  });

  test('DynamicValue: msgpack preferred, JSON fallback, empty is null', () => {
    const t: CtyType = ['object', { a: 'string', n: 'number', d: 'dynamic' }];
    const dv = encodeDynamicValue({ a: 'x', n: 2 }, t);
    assert.ok(Buffer.isBuffer(dv.msgpack));
    assert.deepEqual(decodeDynamicValue(dv, t), { a: 'x', n: 2, d: null });
    const json = Buffer.from(JSON.stringify({ a: 'y', n: 1e3, d: { type: ['list', 'string'], value: ['q'] } }));
    assert.deepEqual(decodeDynamicValue({ msgpack: Buffer.alloc(0), json }, t), { a: 'y', n: 1000, d: ['q'] });
    assert.equal(decodeDynamicValue({}, t), null);
    assert.equal(decodeDynamicValue(null, t), null);
    assert.deepEqual(decodeJson('{"a":"z","extra":true}', t), { a: 'z', n: null, d: null });
  });
});

describe('valuesEqual', () => {
  test('sets ignore order, lists do not; unknown equals nothing', () => {
    assert.ok(valuesEqual(['a', 'b'], ['b', 'a'], ['set', 'string']));
    assert.ok(!valuesEqual(['a', 'b'], ['b', 'a'], ['list', 'string']));
    assert.ok(!valuesEqual(['a', 'a'], ['a', 'b'], ['set', 'string']));
    assert.ok(!valuesEqual(UNKNOWN, UNKNOWN, 'string'));
    assert.ok(valuesEqual(null, null, 'string'));
    assert.ok(!valuesEqual(null, '', 'string'));
    assert.ok(valuesEqual({ a: 1, b: null }, { a: 1 }, ['object', { a: 'number', b: 'string' }]));
    assert.ok(valuesEqual({ x: '1' }, { x: '1' }, ['map', 'string']));
    assert.ok(!valuesEqual({ x: '1' }, { x: '1', y: '2' }, ['map', 'string']));
    assert.ok(valuesEqual(2n ** 60n, 2n ** 60n, 'number'));
    assert.ok(valuesEqual(1e20, 10n ** 20n, 'number'));
    assert.ok(!valuesEqual(1.5, 2n, 'number'));
  });
});
