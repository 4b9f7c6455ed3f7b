/**
 * How deployments read in the sidebar: the curl command a user pastes, the try-request
 * form's fields as text and back, latencies and moments.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

import type { JSONValue } from '../api';
import {
  curlCommand,
  fieldText,
  fieldValue,
  formatMs,
  functionAtVersion,
  invokeURL,
  momentMillis,
  shellQuote
} from '../components/deployFormat';
import type { IDeploymentField } from '../deployApi';

function field(type: string, value: JSONValue): IDeploymentField {
  return { name: 'f', type, default: value, help: '' };
}

describe('curlCommand', () => {
  it('posts the example JSON to <url>/invoke with the bearer token from $TOKEN', () => {
    assert.equal(
      curlCommand('http://127.0.0.1:8123/', { calls: 1, contract_type: 'monthly' }),
      'curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" ' +
        `-d '{"calls":1,"contract_type":"monthly"}' http://127.0.0.1:8123/invoke`
    );
    assert.equal(invokeURL('http://h:1'), 'http://h:1/invoke');
  });

  it('quotes a body holding quotes so a shell passes it through unchanged', () => {
    const body = { note: `it's "quoted" $HOME \`id\`` };
    const quoted = shellQuote(JSON.stringify(body));
    const echoed = execFileSync('sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf-8' });
    assert.deepEqual(JSON.parse(echoed), body);
  });
});

describe('fieldValue', () => {
  it('reads numbers, booleans (Python or JSON spelling), None and containers as JSON', () => {
    assert.deepEqual(fieldValue(field('int', 0), '24'), { ok: true, value: 24 });
    assert.deepEqual(fieldValue(field('float', 0), ' 70.0 '), { ok: true, value: 70 });
    assert.deepEqual(fieldValue(field('bool', false), 'True'), { ok: true, value: true });
    assert.deepEqual(fieldValue(field('bool', false), 'false'), { ok: true, value: false });
    assert.deepEqual(fieldValue(field('int | None', null), 'None'), { ok: true, value: null });
    assert.deepEqual(fieldValue(field('list[int]', []), '[1, 2]'), { ok: true, value: [1, 2] });
  });

  it('takes a str as typed, quotes and spaces included', () => {
    assert.deepEqual(fieldValue(field('str', ''), ' "a" b'), { ok: true, value: ' "a" b' });
    assert.deepEqual(fieldValue(field('str | None', null), 'None'), { ok: true, value: null });
  });

  it('names the field when the text is not a value', () => {
    const bad = fieldValue(field('float', 0), 'abc');
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.message, /^f: not a float/);
    assert.equal(fieldValue(field('int', 0), '  ').ok, false);
  });

  it('starts from the example, which reads back to the same value', () => {
    for (const [type, value] of [
      ['float', 70],
      ['int', 24],
      ['str', 'monthly'],
      ['bool', true],
      ['list[float]', [0.5, 1]]
    ] as [string, JSONValue][]) {
      const f = field(type, value);
      assert.deepEqual(fieldValue(f, fieldText(f, value)), { ok: true, value }, type);
    }
    assert.equal(fieldText(field('float', 70), undefined), '70.0'); // the default
  });
});

describe('formatting', () => {
  it('writes latencies with a sensible precision, a dash for none', () => {
    assert.equal(formatMs(null), '–');
    assert.equal(formatMs(0.421), '0.42 ms');
    assert.equal(formatMs(3.14), '3.1 ms');
    assert.equal(formatMs(120.4), '120 ms');
    assert.equal(formatMs(1234), '1.23 s');
  });

  it('shows function@version with twelve characters of the version', () => {
    assert.equal(functionAtVersion('predict', '0123456789abcdef'), 'predict@0123456789ab');
  });

  it('reads unix seconds and ISO moments alike', () => {
    assert.equal(momentMillis(1_700_000_000), 1_700_000_000_000);
    assert.equal(momentMillis('2026-01-02T03:04:05Z'), Date.UTC(2026, 0, 2, 3, 4, 5));
    assert.equal(momentMillis('never'), null);
    assert.equal(momentMillis(null), null);
  });
});
