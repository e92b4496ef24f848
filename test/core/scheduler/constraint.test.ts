// Every constraint operator of job.ts, on present and missing attributes, numbers and strings;
// dotted version comparison; node attributes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isNodeAttribute, nodeAttribute } from '../../../src/core/scheduler/attributes.ts';
import { asNumber, compileConstraint, CONSTRAINT_OPERATORS, describeConstraint, type ConstraintOperator } from '../../../src/core/scheduler/constraint.ts';
import { compareVersions, parseVersion } from '../../../src/core/scheduler/version.ts';
import { node } from './fixtures.ts';

function holds(actual: string | undefined, operator: ConstraintOperator, value?: string): boolean {
  const c = value === undefined ? { attribute: 'tag.x', operator } : { attribute: 'tag.x', operator, value };
  return compileConstraint(c).check(actual) === undefined;
}

describe('constraint operators', () => {
  it('== and != compare numbers numerically and other text exactly', () => {
    assert.equal(holds('a', '==', 'a'), true);
    assert.equal(holds('a', '==', 'A'), false);
    assert.equal(holds('10', '==', '10.0'), true);
    assert.equal(holds('1e3', '==', '1000'), true);
    assert.equal(holds('10', '==', '10 '), false, 'trailing space makes it text');
    assert.equal(holds('0x10', '==', '16'), false, 'hex is text, not a number');
    assert.equal(holds('a', '!=', 'b'), true);
    assert.equal(holds('a', '!=', 'a'), false);
    assert.equal(holds('2', '!=', '2.00'), false);
  });

  it('< <= > >= are numeric when both sides are numbers', () => {
    assert.equal(holds('9', '<', '10'), true, 'as strings "9" > "10"');
    assert.equal(holds('10', '<', '9'), false);
    assert.equal(holds('10', '<=', '10'), true);
    assert.equal(holds('10', '<=', '9.5'), false);
    assert.equal(holds('-1', '>', '-2'), true);
    assert.equal(holds('2048', '>=', '2048'), true);
    assert.equal(holds('2047', '>=', '2048'), false);
    assert.equal(holds('.5', '>', '0.25'), true);
  });

  it('< <= > >= compare text by code units otherwise', () => {
    assert.equal(holds('b', '>', 'a'), true);
    assert.equal(holds('B', '>', 'a'), false, 'no locale: uppercase sorts first');
    assert.equal(holds('9', '>', '10x'), true, 'one side text: string order');
    assert.equal(holds('abc', '<=', 'abc'), true);
    assert.equal(holds('abd', '<', 'abc'), false);
    assert.equal(holds('ab', '>=', 'abc'), false);
  });

  it('in and not-in take a comma list, trimmed, with == equality', () => {
    assert.equal(holds('b', 'in', 'a, b ,c'), true);
    assert.equal(holds('d', 'in', 'a,b,c'), false);
    assert.equal(holds('2', 'in', '1.0, 2.0'), true);
    assert.equal(holds('', 'in', 'a,,b'), false, 'empty items are dropped');
    assert.equal(holds('d', 'not-in', 'a,b,c'), true);
    assert.equal(holds('a', 'not-in', 'a,b,c'), false);
    assert.equal(holds('x', 'in', ''), false);
    assert.equal(holds('x', 'not-in', ''), true);
  });

  it('exists and not-exists look only at presence', () => {
    assert.equal(holds('', 'exists'), true, 'an empty tag exists');
    assert.equal(holds(undefined, 'exists'), false);
    assert.equal(holds(undefined, 'not-exists'), true);
    assert.equal(holds('v', 'not-exists'), false);
  });

  it('regex is unanchored unless the pattern anchors it', () => {
    assert.equal(holds('eu-west-1', 'regex', 'west'), true);
    assert.equal(holds('eu-west-1', 'regex', '^west'), false);
    assert.equal(holds('eu-west-1', 'regex', '^eu-(west|north)-\\d+$'), true);
    assert.equal(holds('us-east-1', 'regex', '^eu-'), false);
  });

  it('version>= compares dotted versions', () => {
    assert.equal(holds('1.10.0', 'version>=', '1.9'), true, 'numeric parts, not text');
    assert.equal(holds('1.2', 'version>=', '1.2.0'), true);
    assert.equal(holds('1.1.9', 'version>=', '1.2'), false);
    assert.equal(holds('v2.0.0', 'version>=', '1.99.99'), true);
    assert.equal(holds('1.2.0-rc.1', 'version>=', '1.2.0'), false, 'a pre-release is below its release');
    assert.equal(holds('1.2.0+build.7', 'version>=', '1.2.0'), true, 'build metadata ignored');
  });

  it('a missing attribute fails every operator but !=, not-in and not-exists', () => {
    for (const op of CONSTRAINT_OPERATORS) {
      const value = op === 'exists' || op === 'not-exists' ? undefined : op === 'version>=' ? '1.0' : op === 'regex' ? '.*' : 'a';
      const expected = op === '!=' || op === 'not-in' || op === 'not-exists';
      assert.equal(holds(undefined, op, value), expected, op);
      const miss = compileConstraint({ attribute: 'tag.x', operator: op, ...(value === undefined ? {} : { value }) }).check(undefined);
      if (!expected) assert.deepEqual(miss, { kind: 'missing' });
    }
  });

  it('a constraint that cannot mean anything fails on every node, with the detail', () => {
    const badRegex = compileConstraint({ attribute: 'tag.x', operator: 'regex', value: '(' });
    assert.equal(badRegex.check('(')?.kind, 'invalid');
    const badVersion = compileConstraint({ attribute: 'node.version', operator: 'version>=', value: 'latest' });
    assert.match((badVersion.check('1.0.0') as { detail: string }).detail, /not a dotted version/);
    const noValue = compileConstraint({ attribute: 'tag.x', operator: '==' });
    assert.match((noValue.check('a') as { detail: string }).detail, /needs a value/);
    const nodeNotVersion = compileConstraint({ attribute: 'node.version', operator: 'version>=', value: '1.0' });
    assert.equal(nodeNotVersion.check('dev')?.kind, 'invalid');
    const unknownOp = compileConstraint({ attribute: 'tag.x', operator: '~=' as ConstraintOperator, value: 'a' });
    assert.equal(unknownOp.check('a')?.kind, 'invalid');
  });

  it('a mismatch carries the node value', () => {
    assert.deepEqual(compileConstraint({ attribute: 'tag.zone', operator: '==', value: 'a' }).check('b'), { kind: 'mismatch', actual: 'b' });
  });

  it('describes constraints as written', () => {
    assert.equal(describeConstraint({ attribute: 'tag.zone', operator: '==', value: 'a' }), 'tag.zone == a');
    assert.equal(describeConstraint({ attribute: 'tag.gpu', operator: 'exists' }), 'tag.gpu exists');
  });

  it('numeric comparison agrees with Number for decimal integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: -1e9, max: 1e9 }), (a, b) => {
        const [x, y] = [String(a), String(b)];
        assert.equal(holds(x, '<', y), a < b);
        assert.equal(holds(x, '<=', y), a <= b);
        assert.equal(holds(x, '>', y), a > b);
        assert.equal(holds(x, '>=', y), a >= b);
        assert.equal(holds(x, '==', y), a === b);
        assert.equal(holds(x, '!=', y), a !== b);
      }),
      { numRuns: 200 },
    );
  });

  it('only decimal text counts as a number', () => {
    assert.equal(asNumber('12'), 12);
    assert.equal(asNumber('-1.5e2'), -150);
    for (const text of ['', ' ', '1 ', '0x10', 'Infinity', 'NaN', '1e999', '1.2.3', '+']) assert.equal(asNumber(text), undefined, JSON.stringify(text));
  });
});

describe('versions', () => {
  it('orders per semver precedence', () => {
    const ordered = ['0.9', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.2', '1.10', '2'];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        assert.equal(Math.sign(compareVersions(ordered[i]!, ordered[j]!)!), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
      }
    }
  });

  it('treats missing parts as zero and ignores a leading v and build metadata', () => {
    assert.equal(compareVersions('1', '1.0.0'), 0);
    assert.equal(compareVersions('v1.2.3', '1.2.3'), 0);
    assert.equal(compareVersions('1.2.3+abc', '1.2.3+def'), 0);
    assert.equal(compareVersions('1.0.0-rc.00012345678901234567890', '1.0.0-rc.12345678901234567889'), 1, 'long numeric identifiers stay exact');
  });

  it('refuses what is not a dotted version', () => {
    for (const text of ['', 'v', '1.', '.1', '1..2', 'a.b', '1.2-', '1.2.x', 'latest', ' 1.2', '99999999999999999999.0']) assert.equal(parseVersion(text), undefined, JSON.stringify(text));
    assert.equal(compareVersions('1.0', 'x'), undefined);
  });
});

describe('node attributes', () => {
  const n = node('n1', { version: '0.4.1', tags: { zone: 'a', empty: '' }, cpuCores: 8, memoryMB: 16384, diskFreeMB: 512 });

  it('reads the documented attributes as text', () => {
    assert.equal(nodeAttribute(n, 'node.id'), 'n1');
    assert.equal(nodeAttribute(n, 'node.version'), '0.4.1');
    assert.equal(nodeAttribute(n, 'tag.zone'), 'a');
    assert.equal(nodeAttribute(n, 'tag.empty'), '');
    assert.equal(nodeAttribute(n, 'resources.cpuCores'), '8');
    assert.equal(nodeAttribute(n, 'resources.memoryMB'), '16384');
    assert.equal(nodeAttribute(n, 'resources.diskFreeMB'), '512');
  });

  it('has nothing for unset tags, inherited names or unknown attributes', () => {
    assert.equal(nodeAttribute(n, 'tag.rack'), undefined);
    assert.equal(nodeAttribute(n, 'tag.toString'), undefined);
    assert.equal(nodeAttribute(n, 'tag.__proto__'), undefined);
    assert.equal(nodeAttribute(n, 'node.address'), undefined);
    assert.equal(isNodeAttribute('tag.zone'), true);
    assert.equal(isNodeAttribute('tag.'), false);
    assert.equal(isNodeAttribute('resources.cpuCores'), true);
    assert.equal(isNodeAttribute('node.address'), false);
  });
});
