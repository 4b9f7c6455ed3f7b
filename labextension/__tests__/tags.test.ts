/**
 * Writing role tags: one role per cell, other tags kept, names the parser accepts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  isRoleTag,
  isValidFunctionName,
  roleTag,
  suggestFunctionName,
  withoutMLOpsTags,
  withRoleTag
} from '../tags';

describe('roleTag', () => {
  it('writes the grammar of jupyter_mlops/notebook/tags.py', () => {
    assert.equal(roleTag('function', 'train'), 'mlops:fn:train');
    assert.equal(roleTag('setup'), 'mlops:setup');
    assert.equal(roleTag('skip'), 'mlops:skip');
    assert.equal(roleTag('metrics'), 'mlops:metrics');
    assert.equal(roleTag('parameters'), 'parameters');
  });

  it('refuses a function name the parser would refuse', () => {
    for (const name of ['', 'two words', 'a:b', 'a/b', 'a\\b']) {
      assert.equal(isValidFunctionName(name), false, name);
      assert.throws(() => roleTag('function', name));
    }
    assert.equal(isValidFunctionName('train-2'), true);
  });
});

describe('withRoleTag', () => {
  it('replaces the role tag and keeps the user tags and option tags', () => {
    const tags = ['keep-me', 'mlops:fn:load', 'mlops:after:prepare', 'mlops:image:python:3.11'];
    assert.deepEqual(withRoleTag(tags, 'mlops:setup'), [
      'keep-me',
      'mlops:after:prepare',
      'mlops:image:python:3.11',
      'mlops:setup'
    ]);
  });

  it("replaces peer grammars' role tags too", () => {
    const tags = ['step:train', 'imports', 'pipeline-parameters', 'skip', 'mlrun-ignore', 'x'];
    assert.deepEqual(withRoleTag(tags, 'parameters'), ['x', 'parameters']);
  });

  it('removes the role when given null', () => {
    assert.deepEqual(withRoleTag(['parameters', 'mine'], null), ['mine']);
  });
});

describe('withoutMLOpsTags', () => {
  it('drops every mlops: tag and role tag, keeps the rest', () => {
    const tags = ['mlops:fn:a', 'mlops:after:b', 'mlops:gpu:1', 'parameters', 'mine', 'other:tag'];
    assert.deepEqual(withoutMLOpsTags(tags), ['mine', 'other:tag']);
  });
});

describe('isRoleTag', () => {
  it('tells roles from options and user tags', () => {
    assert.equal(isRoleTag('mlops:metrics'), true);
    assert.equal(isRoleTag(' mlops:fn:x '), true);
    assert.equal(isRoleTag('mlops:after:x'), false);
    assert.equal(isRoleTag('mlops:cache:off'), false);
    assert.equal(isRoleTag('my-tag'), false);
  });
});

describe('suggestFunctionName', () => {
  it('names the function after the heading above', () => {
    const hint = { heading: 'Train the model!', source: 'model = fit()' };
    assert.equal(suggestFunctionName(hint, []), 'train_the_model');
  });

  it('falls back to the first assigned name, then to step', () => {
    assert.equal(
      suggestFunctionName({ heading: null, source: 'x: int = 1\nmodel = 2' }, []),
      'make_x'
    );
    assert.equal(suggestFunctionName({ heading: null, source: 'print(1)' }, []), 'step');
    assert.equal(suggestFunctionName({ heading: '!!!', source: 'a == b' }, []), 'step');
  });

  it('avoids the names already taken', () => {
    const taken = ['evaluate', 'evaluate_2'];
    assert.equal(suggestFunctionName({ heading: 'Evaluate', source: '' }, taken), 'evaluate_3');
  });

  it('gives an identifier even for a heading that starts with a digit', () => {
    assert.equal(
      suggestFunctionName({ heading: '2. Prepare data', source: '' }, []),
      '_2_prepare_data'
    );
  });
});
