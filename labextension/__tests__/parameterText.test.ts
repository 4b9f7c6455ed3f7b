/**
 * Parameter values as the text a user types: what the form shows and the server reads back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { IParameter, JSONValue } from '../api';
import { candidateText, defaultText, splitValues } from '../parameterText';

function param(type: string, value: JSONValue): IParameter {
  return { name: 'p', type, default: value, help: '' };
}

describe('defaultText', () => {
  it('keeps the .0 of a float, as Python prints it', () => {
    assert.equal(defaultText(param('float', 1)), '1.0');
    assert.equal(defaultText(param('float', 0.25)), '0.25');
    assert.equal(defaultText(param('int', 300)), '300');
  });

  it('shows a str as typed, and Python spellings for bool and None', () => {
    assert.equal(defaultText(param('str', 'it\'s "x"')), 'it\'s "x"');
    assert.equal(defaultText(param('str | None', null)), 'None');
    assert.equal(defaultText(param('bool', true)), 'True');
    assert.equal(defaultText(param("Literal['a', 'b']", 'a')), 'a');
  });

  it('writes containers as JSON, which the server reads first', () => {
    assert.equal(defaultText(param('list[int]', [1, 2])), '[1,2]');
    assert.equal(defaultText(param('dict[str, float]', { a: 1.5 })), '{"a":1.5}');
    assert.equal(defaultText(param('Any', 'text')), '"text"');
  });
});

describe('splitValues', () => {
  it('splits on top-level commas only', () => {
    assert.deepEqual(splitValues('0.1, 1 ,10'), ['0.1', '1', '10']);
    assert.deepEqual(splitValues('[1, 2], [3]'), ['[1, 2]', '[3]']);
    assert.deepEqual(splitValues('"a, b", c'), ['"a, b"', 'c']);
    assert.deepEqual(splitValues(' , '), []);
  });

  it('unquotes a candidate of a str parameter only', () => {
    assert.equal(candidateText(param('str', ''), '"a, b"'), 'a, b');
    assert.equal(candidateText(param('list[str]', []), '"a"'), '"a"');
  });
});
