import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseLocatedYaml } from '../../src/wire/yaml-locate.ts';

const TEXT = ['name: web', 'ports:', '  http: 8080', '  list:', '    - a', '    - b', 'empty:'].join('\n');

function parsed() {
  const r = parseLocatedYaml('f.yaml', TEXT);
  assert.ok(r.ok);
  return r.value;
}

describe('yaml-locate', () => {
  it('positions values, keys and list items as file:line:col (1-based)', () => {
    const y = parsed();
    assert.deepEqual(y.locate(['ports', 'http']), { source: 'f.yaml:3:9', line: 3, col: 9 });
    assert.equal(y.locate(['ports', 'http'], true).source, 'f.yaml:3:3');
    assert.equal(y.locate(['ports', 'list', '1']).source, 'f.yaml:6:7');
    assert.equal(y.locate(['name'], true).source, 'f.yaml:1:1');
    assert.equal(y.locate(['name']).source, 'f.yaml:1:7');
  });

  it('points a missing field at its deepest existing parent', () => {
    const y = parsed();
    assert.equal(y.locate(['ports', 'grpc', 'static']).source, 'f.yaml:3:3');
    assert.equal(y.locate(['nope']).source, 'f.yaml:1:1');
    // atKey on a missing key falls back to the value search.
    assert.equal(y.locate(['ports', 'nope'], true).source, 'f.yaml:3:3');
  });

  it('positions nodes directly, and anything without a range at the start', () => {
    const y = parsed();
    const ports = y.doc.get('ports', true);
    assert.equal(y.nodeAt(ports).source, 'f.yaml:3:3');
    assert.equal(y.nodeAt(undefined).source, 'f.yaml:1:1');
    assert.deepEqual(y.at(TEXT.indexOf('8080')), { source: 'f.yaml:3:9', line: 3, col: 9 });
  });

  it('reports syntax errors, duplicate keys and multiple documents with positions', () => {
    const bad = parseLocatedYaml('b.yaml', 'a: [1, 2\n');
    assert.ok(!bad.ok);
    assert.match(bad.error[0]!.source, /^b\.yaml:\d+:\d+$/);
    assert.match(bad.error[0]!.message, /^invalid YAML: /);
    const dup = parseLocatedYaml('d.yaml', 'a: 1\nb: 2\na: 3\n');
    assert.ok(!dup.ok);
    assert.equal(dup.error[0]!.source, 'd.yaml:3:1');
    assert.equal(dup.error[0]!.line, 3);
    const many = parseLocatedYaml('m.yaml', 'a: 1\n---\nb: 2\n');
    assert.ok(!many.ok);
    assert.match(many.error[0]!.message, /multiple documents/);
  });

  it('accepts an empty file as a document without contents', () => {
    const r = parseLocatedYaml('e.yaml', '# nothing\n');
    assert.ok(r.ok);
    assert.equal(r.value.doc.contents, null);
    assert.equal(r.value.locate(['x']).source, 'e.yaml:1:1');
  });
});
