// The KV browser's pure helpers: folders from a flat prefix listing, breadcrumbs, value bytes
// as text or hex, and key paths for the API (src/api/kv.ts).

/** GET /v1/kv/KEY and the entries of GET /v1/kv?prefix= (src/api/kv.ts KvEntrySchema). */
export interface KvEntry {
  readonly key: string;
  /** UTF-8 text when valueEncoding is utf8, else base64. */
  readonly value: string;
  readonly valueEncoding: 'utf8' | 'base64';
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly session?: string;
}

export interface KvList {
  readonly entries: readonly KvEntry[];
  /** More keys match than the limit returned. */
  readonly more: boolean;
  /** The store's revision when read. */
  readonly revision: number;
}

export const MAX_KEY_CHARS = 1024;
export const MAX_VALUE_BYTES = 1024 * 1024;

export type BrowseRow = { readonly kind: 'folder'; readonly prefix: string; readonly name: string; readonly keys: number } | { readonly kind: 'key'; readonly name: string; readonly entry: KvEntry };

/**
 * Keys under `prefix` as one level of folders: a key whose remainder has a '/' counts toward
 * the folder up to that '/', the others are shown themselves. Folders first, each group by name.
 */
export function browseRows(prefix: string, entries: readonly KvEntry[]): BrowseRow[] {
  const folders = new Map<string, number>();
  const keys: BrowseRow[] = [];
  for (const entry of entries) {
    if (!entry.key.startsWith(prefix)) continue;
    const rest = entry.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      const folder = rest.slice(0, slash + 1);
      folders.set(folder, (folders.get(folder) ?? 0) + 1);
    } else {
      keys.push({ kind: 'key', name: rest, entry });
    }
  }
  const folderRows: BrowseRow[] = [...folders].map(([name, count]) => ({ kind: 'folder', prefix: prefix + name, name, keys: count }));
  const byName = (a: BrowseRow, b: BrowseRow): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...folderRows.sort(byName), ...keys.sort(byName)];
}

/** 'config/db/x' -> [{label: 'config/', prefix: 'config/'}, {label: 'db/', prefix: 'config/db/'}, {label: 'x', prefix: 'config/db/x'}]. */
export function crumbs(prefix: string): { label: string; prefix: string }[] {
  const out: { label: string; prefix: string }[] = [];
  let at = 0;
  while (at < prefix.length) {
    const slash = prefix.indexOf('/', at);
    const end = slash < 0 ? prefix.length : slash + 1;
    out.push({ label: prefix.slice(at, end), prefix: prefix.slice(0, end) });
    at = end;
  }
  return out;
}

/** The folder a key sits in ('a/b/c' -> 'a/b/', 'x' -> ''). */
export function parentPrefix(key: string): string {
  const slash = key.lastIndexOf('/', key.endsWith('/') ? key.length - 2 : key.length - 1);
  return slash < 0 ? '' : key.slice(0, slash + 1);
}

/** A key as a path of the API: each '/'-separated part percent-encoded, the '/'s kept. */
export function keyPath(key: string): string {
  return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Why a key cannot be written or read from a browser, or undefined. URL parsing in fetch
 * resolves '.' and '..' path segments (even percent-encoded), so such keys would reach another
 * key: refuse them rather than touch the wrong one.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.length > MAX_KEY_CHARS) return `the key has ${key.length} characters; the limit is ${MAX_KEY_CHARS}`;
  if (key.includes('\0')) return 'the key contains a NUL character';
  if (key.split('/').some((part) => part === '.' || part === '..')) return "a key with a '.' or '..' part cannot be addressed from a browser (URLs resolve them); use the CLI";
  return undefined;
}

export function valueBytes(entry: Pick<KvEntry, 'value' | 'valueEncoding'>): Uint8Array {
  if (entry.valueEncoding === 'utf8') return new TextEncoder().encode(entry.value);
  const binary = atob(entry.value);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Bytes as hex, 16 a line, a space between bytes. */
export function toHex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push(Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}

/** A hex dump with offsets and the printable ASCII beside (for viewing binary values). */
export function hexDump(bytes: Uint8Array, maxBytes = 4096): string {
  const lines: string[] = [];
  const end = Math.min(bytes.length, maxBytes);
  for (let i = 0; i < end; i += 16) {
    const row = bytes.subarray(i, Math.min(i + 16, end));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > end) lines.push(`… ${bytes.length - end} more bytes`);
  return lines.join('\n');
}

/** Hex text (whitespace ignored) to bytes, or an error message. */
export function parseHex(text: string): { ok: true; bytes: Uint8Array } | { ok: false; message: string } {
  const clean = text.replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]*$/.test(clean)) return { ok: false, message: 'hex may contain only 0-9, a-f and spaces' };
  if (clean.length % 2 !== 0) return { ok: false, message: 'hex needs two digits per byte (an odd number of digits)' };
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return { ok: true, bytes: out };
}

/** A short one-line view of a value for listings. */
export function preview(entry: KvEntry, maxChars = 80): string {
  if (entry.valueEncoding === 'base64') return `binary, ${valueBytes(entry).length} bytes`;
  const oneLine = entry.value.replace(/\s+/g, ' ');
  return oneLine.length > maxChars ? `${oneLine.slice(0, maxChars - 1)}…` : oneLine;
}
