// Operator-written YAML (agent config, job files) parsed so that every later complaint can say
// where it is: `file:line:col`, the way compilers and editors print positions (1-based line and
// column, so an editor's "go to" lands on the character). The `yaml` package's LineCounter turns
// the character offsets of its syntax tree into lines and columns.
import { LineCounter, isMap, isNode, parseDocument, type Document, type Node } from 'yaml';
import { err, ok, type Result } from '../core/result.ts';

export interface YamlPosition {
  /** "path:line:col" */
  readonly source: string;
  readonly line: number;
  readonly col: number;
}

/** A syntax error, positioned; `message` reads "invalid YAML: ...". */
export interface YamlSyntaxError extends YamlPosition {
  readonly message: string;
}

export interface LocatedYaml {
  readonly path: string;
  readonly doc: Document.Parsed;
  /** Position of a character offset in the text. */
  at(offset: number): YamlPosition;
  /** Where a node starts; the start of the file when it has no range (a default, a missing node). */
  nodeAt(node: unknown): YamlPosition;
  /**
   * Position of a field given as a path of keys (list items by their index). With `atKey`, the
   * position of the field's key (for "unknown field"); otherwise of its value. A field that does
   * not exist points at its deepest existing parent, so "missing x" lands on the mapping lacking it.
   */
  locate(fieldPath: readonly string[], atKey?: boolean): YamlPosition;
}

export function parseLocatedYaml(path: string, text: string): Result<LocatedYaml, YamlSyntaxError[]> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): YamlPosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { source: `${path}:${line}:${col}`, line, col };
  };
  if (doc.errors.length > 0) {
    // The first line of the package's message; positions are ours.
    return err(doc.errors.map((e) => ({ ...at(e.pos[0]), message: `invalid YAML: ${e.message.split('\n')[0]}` })));
  }
  const start = at(0);
  const nodeAt = (node: unknown): YamlPosition => (isNode(node) && node.range ? at(node.range[0]) : start);
  const keyOf = (fieldPath: readonly string[]): YamlPosition | undefined => {
    const parent = fieldPath.length === 1 ? doc.contents : doc.getIn(fieldPath.slice(0, -1), true);
    if (!isMap(parent)) return undefined;
    const pair = parent.items.find((p) => isNode(p.key) && String((p.key as { value?: unknown }).value) === fieldPath.at(-1));
    return pair && isNode(pair.key) && pair.key.range ? at(pair.key.range[0]) : undefined;
  };
  const locate = (fieldPath: readonly string[], atKey = false): YamlPosition => {
    if (atKey && fieldPath.length > 0) {
      const key = keyOf(fieldPath);
      if (key) return key;
    }
    for (let n = fieldPath.length; n >= 0; n--) {
      const node: unknown = n === 0 ? doc.contents : doc.getIn(fieldPath.slice(0, n), true);
      if (isNode(node) && (node as Node).range) return nodeAt(node);
    }
    return start;
  };
  return ok({ path, doc, at, nodeAt, locate });
}
