// The pure parts of remote exec: the node filter and the bounded output buffer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OutputBuffer, matchesNodeFilter, parseNodeFilter, type FilterSubject, type FilterTerm } from '../../src/agent/exec.ts';

function member(id: string, tags: Record<string, string> = {}, role: FilterSubject['role'] = 'voter', version = '0.1.0'): FilterSubject {
  return { id, tags, role, version };
}

function parse(expr: string): FilterTerm[] {
  const r = parseNodeFilter(expr);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

function parseError(expr: string): string {
  const r = parseNodeFilter(expr);
  assert.ok(!r.ok, `expected ${JSON.stringify(expr)} to be refused`);
  return r.error;
}

describe('node filter', () => {
  const nodes = [member('node-a', { zone: 'eu' }, 'leader'), member('node-b', { zone: 'us' }), member('web-1', { zone: 'eu', hub: 'true' }, 'learner', '0.2.0')];
  const pick = (expr: string): string[] => nodes.filter((n) => matchesNodeFilter(parse(expr), n)).map((n) => n.id);

  it('an empty filter matches everyone', () => {
    assert.deepEqual(parse(''), []);
    assert.deepEqual(parse('   '), []);
    assert.deepEqual(pick(''), ['node-a', 'node-b', 'web-1']);
  });

  it('= and != compare exactly; ~ and !~ are unanchored regular expressions; commas AND the terms', () => {
    assert.deepEqual(pick('id=node-a'), ['node-a']);
    assert.deepEqual(pick('id=node'), []);
    assert.deepEqual(pick('id~node'), ['node-a', 'node-b']);
    assert.deepEqual(pick('id~^web-[0-9]+$'), ['web-1']);
    assert.deepEqual(pick('id!~^node'), ['web-1']);
    assert.deepEqual(pick('tag.zone=eu'), ['node-a', 'web-1']);
    assert.deepEqual(pick('tag.zone=eu,role!=leader'), ['web-1']);
    assert.deepEqual(pick('tag.zone=eu, id = node-a'), ['node-a']);
    assert.deepEqual(pick('role=learner'), ['web-1']);
    assert.deepEqual(pick('version=0.2.0'), ['web-1']);
  });

  it('a node without the tag matches only the negative operators', () => {
    assert.deepEqual(pick('tag.hub=true'), ['web-1']);
    assert.deepEqual(pick('tag.hub!=true'), ['node-a', 'node-b']);
    assert.deepEqual(pick('tag.hub~.'), ['web-1']);
    assert.deepEqual(pick('tag.hub!~.'), ['node-a', 'node-b']);
    // Inherited properties of plain objects are not tags.
    assert.deepEqual(pick('tag.constructor~.'), []);
    assert.deepEqual(pick('tag.__proto__!=x'), ['node-a', 'node-b', 'web-1']);
  });

  it('a value may hold = and ~, and \\, is a literal comma', () => {
    const terms = parse('tag.expr=a=b~c,id~^x{1\\,3}$');
    assert.equal(terms.length, 2);
    assert.deepEqual([terms[0]!.attribute, terms[0]!.op, terms[0]!.value], ['tag.expr', '=', 'a=b~c']);
    assert.equal(terms[1]!.value, '^x{1,3}$');
    assert.ok(matchesNodeFilter(terms.slice(1), member('xxx')));
    assert.ok(!matchesNodeFilter(terms.slice(1), member('xxxx')));
    assert.ok(matchesNodeFilter(parse('tag.expr=a=b~c'), member('n', { expr: 'a=b~c' })));
  });

  it('refuses unknown attributes, empty terms, terms without an operator and bad regular expressions, saying what to write', () => {
    assert.match(parseError('zone=eu'), /unknown attribute "zone" in the node filter; use id, role, version, tag\.KEY \(for a tag, write tag\.zone\)/);
    assert.match(parseError('tags.zone=eu'), /did you mean tag\.zone\?/);
    assert.match(parseError('tag.=eu'), /name the tag, e\.g\. tag\.zone=eu/);
    assert.match(parseError('id=a,,id=b'), /empty term/);
    assert.match(parseError('id=a,'), /empty term/);
    assert.match(parseError('node-a'), /"node-a" is not ATTRIBUTE=VALUE/);
    assert.match(parseError('=x'), /is not ATTRIBUTE=VALUE/);
    assert.match(parseError('id~(unclosed'), /"\(unclosed" in "id~\(unclosed" is not a regular expression/);
    assert.match(parseError(Array.from({ length: 40 }, (_, i) => `id!=n${i}`).join(',')), /40 terms; at most 32/);
  });

  it('property: a comma-joined filter matches exactly where every term matches, as a naive evaluator says', () => {
    const word = fc.stringMatching(/^[a-c]{0,3}$/);
    const attribute = fc.constantFrom('id', 'role', 'version', 'tag.zone', 'tag.rack');
    const term = fc.record({ attribute, op: fc.constantFrom('=', '!=', '~', '!~'), value: word });
    const subject = fc.record({
      id: word,
      role: fc.constantFrom('leader', 'voter', 'learner', 'none') as fc.Arbitrary<FilterSubject['role']>,
      version: word,
      tags: fc.dictionary(fc.constantFrom('zone', 'rack', 'hub'), word),
    });
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 5 }), subject, (terms, m) => {
        const expr = terms.map((t) => `${t.attribute}${t.op}${t.value}`).join(',');
        const naive = terms.every((t) => {
          const actual = t.attribute.startsWith('tag.') ? (Object.hasOwn(m.tags, t.attribute.slice(4)) ? m.tags[t.attribute.slice(4)] : undefined) : (m as unknown as Record<string, string>)[t.attribute];
          if (t.op === '=') return actual === t.value;
          if (t.op === '!=') return actual !== t.value;
          const hit = actual !== undefined && actual.includes(t.value); // plain letters: a regex is a substring search
          return t.op === '~' ? hit : !hit;
        });
        assert.equal(matchesNodeFilter(parse(expr), m), naive, expr);
      }),
    );
  });
});

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (chunks: readonly { data: Uint8Array }[]): string => chunks.map((c) => new TextDecoder().decode(c.data)).join('');

describe('output buffer', () => {
  it('keeps the interleaving of stdout and stderr, and a read frees what lies before its cursor', () => {
    const b = new OutputBuffer(1024);
    b.append('stdout', bytes('one\n'));
    b.append('stderr', bytes('oops\n'));
    b.append('stdout', bytes('two\n'));
    const first = b.read(0, 1024);
    assert.deepEqual(first.chunks.map((c) => c.stream), ['stdout', 'stderr', 'stdout']);
    assert.equal(text(first.chunks), 'one\noops\ntwo\n');
    assert.equal(first.cursor, 13);
    assert.equal(b.bufferedBytes, 13, 'nothing is freed until the reader comes back with the new cursor');
    const again = b.read(first.cursor, 1024);
    assert.deepEqual(again.chunks, []);
    assert.equal(b.bufferedBytes, 0);
  });

  it('small writes to one stream coalesce into one chunk', () => {
    const b = new OutputBuffer(1024);
    for (let i = 0; i < 10; i++) b.append('stdout', bytes(`${i}`));
    const r = b.read(0, 1024);
    assert.equal(r.chunks.length, 1);
    assert.equal(text(r.chunks), '0123456789');
  });

  it('a read returns at most maxBytes, splitting a chunk, and a lost reply is read again from the old cursor', () => {
    const b = new OutputBuffer(1024);
    b.append('stdout', bytes('abcdefghij'));
    const r1 = b.read(0, 4);
    assert.equal(text(r1.chunks), 'abcd');
    // The reply was lost: the origin asks with the same cursor and gets the same bytes.
    assert.equal(text(b.read(0, 4).chunks), 'abcd');
    const r2 = b.read(r1.cursor, 100);
    assert.equal(text(r2.chunks), 'efghij');
    assert.equal(r2.cursor, 10);
  });

  it('keeps at most capBytes over the whole run and counts the rest as truncated, even after reads free memory', () => {
    const b = new OutputBuffer(10);
    b.append('stdout', bytes('12345678'));
    const r = b.read(0, 100);
    b.append('stderr', bytes('abcdef'));
    b.append('stdout', bytes('more'));
    const rest = b.read(r.cursor, 100);
    assert.equal(text(r.chunks) + text(rest.chunks), '12345678ab');
    assert.equal(b.end, 10);
    assert.equal(b.truncatedBytes, 8);
  });

  it('property: whatever the writes, read sizes and retries, the reader gets exactly the first capBytes in order and the rest is counted', () => {
    const write = fc.record({ stream: fc.constantFrom('stdout' as const, 'stderr' as const), data: fc.uint8Array({ maxLength: 50 }) });
    const step = fc.oneof(fc.record({ kind: fc.constant('write' as const), write }), fc.record({ kind: fc.constant('read' as const), maxBytes: fc.integer({ min: 1, max: 40 }), lost: fc.boolean() }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.array(step, { maxLength: 60 }), (cap, steps) => {
        const b = new OutputBuffer(cap);
        const written: number[] = [];
        const got: number[] = [];
        let cursor = 0;
        const drain = (maxBytes: number, lost: boolean): void => {
          const r = b.read(cursor, maxBytes);
          const n = r.chunks.reduce((s, c) => s + c.data.byteLength, 0);
          assert.ok(n <= maxBytes);
          assert.equal(r.cursor, cursor + n);
          if (lost) return; // the reply never arrived: the cursor stays
          for (const c of r.chunks) got.push(...c.data);
          cursor = r.cursor;
        };
        for (const s of steps) {
          if (s.kind === 'write') {
            written.push(...s.write.data);
            b.append(s.write.stream, s.write.data);
          } else drain(s.maxBytes, s.lost);
          assert.ok(b.bufferedBytes <= cap);
        }
        while (cursor < b.end) drain(40, false);
        assert.deepEqual(got, written.slice(0, cap));
        assert.equal(b.truncatedBytes, Math.max(0, written.length - cap));
      }),
    );
  });
});
