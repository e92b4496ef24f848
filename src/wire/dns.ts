// DNS messages: RFC 1035 §4 (header, question, resource records, name compression), RFC 2782
// (SRV), RFC 3596 (AAAA), RFC 6891 (EDNS0 OPT) and RFC 2308 (SOA in negative answers).
//
// The decoder reads untrusted datagrams: it never throws, bounds every name (labels <= 63
// bytes, names <= 255 bytes on the wire), follows compression pointers only backwards (so a
// pointer loop is impossible, not merely detected), checks every length against the bytes that
// are there, and returns a typed error. Names are kept as arrays of labels whose characters are
// the label's bytes (latin1), so any label round-trips exactly, dots and case included.
//
// The encoder compresses names (RFC 1035 §4.1.4) except SRV targets (RFC 2782 says they must
// not be compressed) and fits the message into a byte budget: answer or authority records that
// do not fit are left out and TC is set; additional records that do not fit are left out
// without TC (RFC 2181 §9); the OPT record is always kept (RFC 6891 §7).
import { assert, err, ok, type Result } from '../core/result.ts';

export const DNS_TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const DNS_CLASS = { IN: 1, CH: 3, ANY: 255 } as const;
export const DNS_OPCODE = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;
/** Response codes; BADVERS (16) only exists as an extended code in the OPT record (RFC 6891 §6.1.3). */
export const DNS_RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const DNS_HEADER_BYTES = 12;
export const MAX_LABEL_BYTES = 63;
/** Of a name on the wire: every label with its length byte, plus the root's zero byte. */
export const MAX_NAME_BYTES = 255;
/** Every DNS client accepts 512-byte UDP answers; a bigger one needs EDNS0 (RFC 1035 §2.3.4). */
export const MIN_UDP_PAYLOAD_BYTES = 512;
/** A DNS message's length must fit the 16-bit prefix of DNS over TCP (RFC 1035 §4.2.2). */
export const MAX_MESSAGE_BYTES = 65535;

/** Labels, most specific first, without the root: www.example.org -> ['www', 'example', 'org']. */
export type DnsName = readonly string[];

export interface DnsHeader {
  readonly id: number;
  /** true in responses. */
  readonly qr: boolean;
  readonly opcode: number;
  /** Authoritative answer. */
  readonly aa: boolean;
  /** Truncated. */
  readonly tc: boolean;
  /** Recursion desired (copied from query to response). */
  readonly rd: boolean;
  /** Recursion available. */
  readonly ra: boolean;
  /** The three bits between RA and RCODE (Z, AD, CD), kept as they came. */
  readonly z: number;
  /** The low 4 bits of the response code; the high 8 are in the OPT record. */
  readonly rcode: number;
}

export interface DnsQuestion {
  readonly name: DnsName;
  readonly type: number;
  readonly class: number;
}

export type DnsRecordData =
  | { readonly type: 'A'; readonly address: string }
  | { readonly type: 'AAAA'; readonly address: string }
  | { readonly type: 'SRV'; readonly priority: number; readonly weight: number; readonly port: number; readonly target: DnsName }
  | {
      readonly type: 'SOA';
      readonly mname: DnsName;
      readonly rname: DnsName;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    }
  /**
   * Any other type, RDATA as it came. Names inside the RDATA of old types (CNAME, NS, MX...)
   * may hold compression pointers into the original message; they are not resolved.
   */
  | { readonly type: 'other'; readonly code: number; readonly bytes: Uint8Array };

export interface DnsRecord {
  readonly name: DnsName;
  readonly class: number;
  readonly ttl: number;
  readonly data: DnsRecordData;
}

export interface DnsEdnsOption {
  readonly code: number;
  readonly data: Uint8Array;
}

/** The EDNS0 OPT pseudo-record (RFC 6891 §6.1), which lives in the additional section. */
export interface DnsEdns {
  /** The largest UDP payload the sender can receive. */
  readonly udpPayloadBytes: number;
  /** The high 8 bits of the 12-bit response code. */
  readonly extendedRcode: number;
  readonly version: number;
  /** DNSSEC OK (RFC 3225). */
  readonly dnssecOk: boolean;
  /** The remaining 15 flag bits, kept as they came. */
  readonly z: number;
  readonly options: readonly DnsEdnsOption[];
}

export interface DnsMessage {
  readonly header: DnsHeader;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  /** Without the OPT record, which is in edns. */
  readonly additionals: readonly DnsRecord[];
  readonly edns: DnsEdns | null;
}

export type DnsDecodeErrorCode =
  /** Fewer than 12 bytes: not even a header. */
  | 'short-header'
  /** A count, length or name runs past the end of the message. */
  | 'truncated'
  /** A compression pointer that does not point strictly before the labels it is part of. */
  | 'bad-pointer'
  /** A label length byte in 64..191: longer than 63 bytes, or a retired extended label type. */
  | 'label-too-long'
  /** A name longer than 255 bytes once its pointers are followed. */
  | 'name-too-long'
  /** RDATA whose length or content does not fit its type (A is 4 bytes, AAAA 16...). */
  | 'bad-rdata'
  /** An OPT record outside the additional section, with a non-root name, or a second one. */
  | 'bad-opt'
  /** Bytes left over after the last record the header announced. */
  | 'trailing-bytes';

export interface DnsDecodeError {
  readonly code: DnsDecodeErrorCode;
  /** Where in the message the problem was found. */
  readonly offset: number;
  /** The header when the message had one: a server answers FORMERR to it (RFC 1035 §4.1.1). */
  readonly header: DnsHeader | null;
}

export function describeDnsDecodeError(e: DnsDecodeError): string {
  return `malformed DNS message: ${e.code} at byte ${e.offset}`;
}

export type DnsNameError =
  | { readonly code: 'empty-label'; readonly index: number }
  | { readonly code: 'label-too-long'; readonly index: number; readonly bytes: number }
  | { readonly code: 'not-bytes'; readonly index: number }
  | { readonly code: 'name-too-long'; readonly bytes: number };

/** Whether labels can be written as a name: non-empty labels of at most 63 byte-valued characters, at most 255 bytes in all. */
export function checkName(name: DnsName): Result<void, DnsNameError> {
  let wireBytes = 1;
  for (let i = 0; i < name.length; i++) {
    const label = name[i] as string;
    if (label.length === 0) return err({ code: 'empty-label', index: i });
    if (label.length > MAX_LABEL_BYTES) return err({ code: 'label-too-long', index: i, bytes: label.length });
    for (let j = 0; j < label.length; j++) if (label.charCodeAt(j) > 0xff) return err({ code: 'not-bytes', index: i });
    wireBytes += 1 + label.length;
  }
  if (wireBytes > MAX_NAME_BYTES) return err({ code: 'name-too-long', bytes: wireBytes });
  return ok(undefined);
}

/** ASCII-only lower case: DNS compares names case-insensitively in ASCII only (RFC 4343 §3). */
export function lowerAscii(label: string): string {
  return label.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Presentation form for logs: dots between labels, RFC 4343 escapes for dots, backslashes and non-printable bytes. */
export function formatName(name: DnsName): string {
  if (name.length === 0) return '.';
  return name
    .map((label) =>
      label.replace(/[^\x21-\x7e]|[.\\]/g, (c) => {
        const code = c.charCodeAt(0);
        return code >= 0x21 && code <= 0x7e ? `\\${c}` : `\\${String(code).padStart(3, '0')}`;
      }),
    )
    .join('.');
}

// ---------------------------------------------------------------------------------------------
// IP address text <-> bytes. Kept here so that A and AAAA records accept exactly the addresses
// this module can format back, with no platform-specific parser in between.

/** Dotted quad with decimal octets, no leading zeros (so "010" is never read as octal). */
export function parseIpv4(text: string): Uint8Array | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (m === null) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

export function formatIpv4(bytes: Uint8Array): string {
  assert(bytes.length === 4, `an IPv4 address has 4 bytes, got ${bytes.length}`);
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 4291 §2.2 text forms: eight groups, one "::", an IPv4 tail. No zone index ("%eth0"). */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] as string, halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1] as string, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  let groups: number[];
  if (halves.length === 1) {
    if (head.length !== 8) return undefined;
    groups = head;
  } else {
    // "::" stands for at least one zero group.
    if (head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function parseGroups(part: string, ipv4TailAllowed: boolean): number[] | undefined {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as string;
    if (ipv4TailAllowed && i === pieces.length - 1 && piece.includes('.')) {
      const v4 = parseIpv4(piece);
      if (v4 === undefined) return undefined;
      groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
      groups.push(Number.parseInt(piece, 16));
    }
  }
  return groups;
}

/** RFC 5952 canonical text: lower case, no leading zeros, the longest run of >= 2 zero groups as "::". */
export function formatIpv6(bytes: Uint8Array): string {
  assert(bytes.length === 16, `an IPv6 address has 16 bytes, got ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Thrown inside the decoder only, and always caught by decodeDnsMessage. */
class Malformed {
  readonly code: DnsDecodeErrorCode;
  readonly offset: number;
  constructor(code: DnsDecodeErrorCode, offset: number) {
    this.code = code;
    this.offset = offset;
  }
}

class Reader {
  readonly bytes: Uint8Array;
  offset = 0;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  need(n: number): void {
    if (this.offset + n > this.bytes.length) throw new Malformed('truncated', this.offset);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++] as number;
  }

  u16(): number {
    this.need(2);
    const v = ((this.bytes[this.offset] as number) << 8) | (this.bytes[this.offset + 1] as number);
    this.offset += 2;
    return v;
  }

  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }

  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /**
   * A name at the current offset; the offset moves past it in place (past the first pointer,
   * if any). Loop safety: a pointer must point strictly before the start of the run of labels
   * it ends, so every jump goes to a smaller offset and the walk ends in at most one jump per
   * byte. Real encoders only ever point back at names they wrote earlier, which this allows.
   */
  name(): DnsName {
    const bytes = this.bytes;
    const labels: string[] = [];
    let pos = this.offset;
    let runStart = pos;
    let resume = -1;
    let wireBytes = 1;
    for (;;) {
      if (pos >= bytes.length) throw new Malformed('truncated', pos);
      const len = bytes[pos] as number;
      if (len === 0) {
        pos += 1;
        break;
      }
      const kind = len & 0xc0;
      if (kind === 0xc0) {
        if (pos + 1 >= bytes.length) throw new Malformed('truncated', pos);
        const target = ((len & 0x3f) << 8) | (bytes[pos + 1] as number);
        if (target >= runStart) throw new Malformed('bad-pointer', pos);
        if (resume < 0) resume = pos + 2;
        pos = target;
        runStart = target;
        continue;
      }
      if (kind !== 0) throw new Malformed('label-too-long', pos);
      wireBytes += 1 + len;
      if (wireBytes > MAX_NAME_BYTES) throw new Malformed('name-too-long', pos);
      if (pos + 1 + len > bytes.length) throw new Malformed('truncated', pos);
      labels.push(String.fromCharCode(...bytes.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    this.offset = resume < 0 ? pos : resume;
    return labels;
  }
}

function readHeader(r: Reader): DnsHeader {
  const id = r.u16();
  const flags = r.u16();
  return {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    z: (flags >> 4) & 0x7,
    rcode: flags & 0xf,
  };
}

/** Just the header, or null when there are fewer than 12 bytes. */
export function decodeDnsHeader(bytes: Uint8Array): DnsHeader | null {
  if (bytes.length < DNS_HEADER_BYTES) return null;
  return readHeader(new Reader(bytes));
}

type RawRecord = { readonly kind: 'record'; readonly record: DnsRecord } | { readonly kind: 'opt'; readonly edns: DnsEdns; readonly offset: number };

function readRecord(r: Reader): RawRecord {
  const start = r.offset;
  const name = r.name();
  const type = r.u16();
  const klass = r.u16();
  const ttl = r.u32();
  const rdLength = r.u16();
  r.need(rdLength);
  const rdStart = r.offset;
  const rdEnd = rdStart + rdLength;
  const exactlyAtEnd = (): void => {
    if (r.offset !== rdEnd) throw new Malformed('bad-rdata', rdStart);
  };
  if (type === DNS_TYPE.OPT) {
    if (name.length !== 0) throw new Malformed('bad-opt', start);
    const options: DnsEdnsOption[] = [];
    while (r.offset < rdEnd) {
      const code = r.u16();
      const length = r.u16();
      if (r.offset + length > rdEnd) throw new Malformed('bad-rdata', rdStart);
      options.push({ code, data: r.take(length) });
    }
    exactlyAtEnd();
    return {
      kind: 'opt',
      offset: start,
      edns: {
        udpPayloadBytes: klass,
        extendedRcode: Math.floor(ttl / 0x1000000),
        version: Math.floor(ttl / 0x10000) & 0xff,
        dnssecOk: (ttl & 0x8000) !== 0,
        z: ttl & 0x7fff,
        options,
      },
    };
  }
  let data: DnsRecordData;
  switch (type) {
    case DNS_TYPE.A:
      if (rdLength !== 4) throw new Malformed('bad-rdata', rdStart);
      data = { type: 'A', address: formatIpv4(r.take(4)) };
      break;
    case DNS_TYPE.AAAA:
      if (rdLength !== 16) throw new Malformed('bad-rdata', rdStart);
      data = { type: 'AAAA', address: formatIpv6(r.take(16)) };
      break;
    case DNS_TYPE.SRV: {
      if (rdLength < 7) throw new Malformed('bad-rdata', rdStart);
      const priority = r.u16();
      const weight = r.u16();
      const port = r.u16();
      const target = r.name();
      exactlyAtEnd();
      data = { type: 'SRV', priority, weight, port, target };
      break;
    }
    case DNS_TYPE.SOA: {
      const mname = r.name();
      const rname = r.name();
      if (r.offset + 20 !== rdEnd) throw new Malformed('bad-rdata', rdStart);
      data = { type: 'SOA', mname, rname, serial: r.u32(), refresh: r.u32(), retry: r.u32(), expire: r.u32(), minimum: r.u32() };
      break;
    }
    default:
      data = { type: 'other', code: type, bytes: r.take(rdLength) };
  }
  return { kind: 'record', record: { name, class: klass, ttl, data } };
}

/** Decodes a whole message; never throws. */
export function decodeDnsMessage(bytes: Uint8Array): Result<DnsMessage, DnsDecodeError> {
  if (bytes.length < DNS_HEADER_BYTES) return err({ code: 'short-header', offset: 0, header: null });
  const r = new Reader(bytes);
  const header = readHeader(r);
  try {
    const qdCount = r.u16();
    const anCount = r.u16();
    const nsCount = r.u16();
    const arCount = r.u16();
    // Each count is bounded by the bytes present: every question or record consumes at least
    // one byte, so the loops below end by 'truncated' long before 65535 iterations of nothing.
    const questions: DnsQuestion[] = [];
    for (let i = 0; i < qdCount; i++) {
      const name = r.name();
      questions.push({ name, type: r.u16(), class: r.u16() });
    }
    const section = (count: number): DnsRecord[] => {
      const out: DnsRecord[] = [];
      for (let i = 0; i < count; i++) {
        const rec = readRecord(r);
        if (rec.kind === 'opt') throw new Malformed('bad-opt', rec.offset);
        out.push(rec.record);
      }
      return out;
    };
    const answers = section(anCount);
    const authorities = section(nsCount);
    const additionals: DnsRecord[] = [];
    let edns: DnsEdns | null = null;
    for (let i = 0; i < arCount; i++) {
      const rec = readRecord(r);
      if (rec.kind === 'opt') {
        if (edns !== null) throw new Malformed('bad-opt', rec.offset); // RFC 6891 §6.1.1: at most one
        edns = rec.edns;
      } else {
        additionals.push(rec.record);
      }
    }
    if (r.offset !== bytes.length) throw new Malformed('trailing-bytes', r.offset);
    return ok({ header, questions, answers, authorities, additionals, edns });
  } catch (e) {
    if (e instanceof Malformed) return err({ code: e.code, offset: e.offset, header });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

export interface DnsEncodeOptions {
  /** Byte budget for the whole message, in [512, 65535]; 65535 when not given. */
  readonly maxBytes?: number;
}

export interface DnsEncoded {
  readonly bytes: Uint8Array;
  /** Some answer or authority records did not fit: TC is set in bytes. */
  readonly truncated: boolean;
  /** How many records of each section were written. */
  readonly written: { readonly answers: number; readonly authorities: number; readonly additionals: number };
}

export type DnsEncodeError = { readonly code: 'too-large'; readonly sizeBytes: number; readonly maxBytes: number };

const U16 = 0xffff;
const U32 = 0xffffffff;

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

class Writer {
  #buf = new Uint8Array(512);
  length = 0;
  /** Suffix key -> offset of a name already written (offsets must fit a 14-bit pointer). */
  readonly #names = new Map<string, number>();
  /** Keys in the order they were added, so a record that did not fit can be taken back. */
  readonly #journal: string[] = [];

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.length++] = v;
  }

  u16(v: number): void {
    this.#room(2);
    this.#buf[this.length++] = v >> 8;
    this.#buf[this.length++] = v & 0xff;
  }

  u32(v: number): void {
    this.u16(Math.floor(v / 0x10000));
    this.u16(v & 0xffff);
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  setU16(at: number, v: number): void {
    this.#buf[at] = v >> 8;
    this.#buf[at + 1] = v & 0xff;
  }

  name(name: DnsName, compress: boolean): void {
    const checked = checkName(name);
    assert(checked.ok, `cannot encode DNS name ${JSON.stringify(name)}: ${checked.ok ? '' : checked.error.code}`);
    for (let i = 0; i < name.length; i++) {
      // Labels hold byte-valued characters only, so U+0100 cannot occur inside one.
      const key = name.slice(i).join('\u0100');
      if (compress) {
        const at = this.#names.get(key);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
      }
      if (this.length < 0x4000 && !this.#names.has(key)) {
        this.#names.set(key, this.length);
        this.#journal.push(key);
      }
      const label = name[i] as string;
      this.u8(label.length);
      this.#room(label.length);
      for (let j = 0; j < label.length; j++) this.#buf[this.length++] = label.charCodeAt(j);
    }
    this.u8(0);
  }

  mark(): { readonly length: number; readonly journal: number } {
    return { length: this.length, journal: this.#journal.length };
  }

  rollback(mark: { readonly length: number; readonly journal: number }): void {
    this.length = mark.length;
    while (this.#journal.length > mark.journal) this.#names.delete(this.#journal.pop() as string);
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

function typeCode(data: DnsRecordData): number {
  switch (data.type) {
    case 'A':
      return DNS_TYPE.A;
    case 'AAAA':
      return DNS_TYPE.AAAA;
    case 'SRV':
      return DNS_TYPE.SRV;
    case 'SOA':
      return DNS_TYPE.SOA;
    case 'other':
      return data.code;
  }
}

const SHAPED_TYPES: readonly number[] = [DNS_TYPE.A, DNS_TYPE.AAAA, DNS_TYPE.SRV, DNS_TYPE.SOA];

function writeRecord(w: Writer, rec: DnsRecord): void {
  const code = typeCode(rec.data);
  assert(isUint(code, U16) && code !== DNS_TYPE.OPT, `record type must be a 16-bit code other than OPT, got ${code}`);
  assert(rec.data.type !== 'other' || !SHAPED_TYPES.includes(code), `type ${code} has its own record shape; use it`);
  assert(isUint(rec.class, U16) && isUint(rec.ttl, U32), 'record class is 16 bits, ttl 32 bits');
  w.name(rec.name, true);
  w.u16(code);
  w.u16(rec.class);
  w.u32(rec.ttl);
  const lengthAt = w.length;
  w.u16(0);
  const data = rec.data;
  switch (data.type) {
    case 'A': {
      const b = parseIpv4(data.address);
      assert(b !== undefined, `A record needs an IPv4 address, got ${JSON.stringify(data.address)}`);
      w.bytes(b);
      break;
    }
    case 'AAAA': {
      const b = parseIpv6(data.address);
      assert(b !== undefined, `AAAA record needs an IPv6 address, got ${JSON.stringify(data.address)}`);
      w.bytes(b);
      break;
    }
    case 'SRV':
      assert(isUint(data.priority, U16) && isUint(data.weight, U16) && isUint(data.port, U16), 'SRV priority, weight and port are 16 bits');
      w.u16(data.priority);
      w.u16(data.weight);
      w.u16(data.port);
      w.name(data.target, false);
      break;
    case 'SOA':
      assert([data.serial, data.refresh, data.retry, data.expire, data.minimum].every((v) => isUint(v, U32)), 'SOA numbers are 32 bits');
      w.name(data.mname, true);
      w.name(data.rname, true);
      for (const v of [data.serial, data.refresh, data.retry, data.expire, data.minimum]) w.u32(v);
      break;
    case 'other':
      w.bytes(data.bytes);
      break;
  }
  const rdLength = w.length - lengthAt - 2;
  assert(rdLength <= U16, `RDATA of ${rdLength} bytes does not fit a 16-bit length`);
  w.setU16(lengthAt, rdLength);
}

function optBytes(edns: DnsEdns): number {
  return 11 + edns.options.reduce((n, o) => n + 4 + o.data.length, 0);
}

function writeOpt(w: Writer, edns: DnsEdns): void {
  assert(isUint(edns.udpPayloadBytes, U16) && isUint(edns.extendedRcode, 0xff) && isUint(edns.version, 0xff) && isUint(edns.z, 0x7fff), 'OPT fields out of range');
  w.u8(0); // root name
  w.u16(DNS_TYPE.OPT);
  w.u16(edns.udpPayloadBytes);
  w.u8(edns.extendedRcode);
  w.u8(edns.version);
  w.u16((edns.dnssecOk ? 0x8000 : 0) | edns.z);
  let length = 0;
  for (const o of edns.options) length += 4 + o.data.length;
  assert(length <= U16, 'OPT options do not fit a 16-bit length');
  w.u16(length);
  for (const o of edns.options) {
    assert(isUint(o.code, U16), 'OPT option code is 16 bits');
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
}

/**
 * Encodes a message within options.maxBytes. The header's counts come from the sections; its TC
 * bit is set when given or when answer/authority records had to be left out. The header and
 * questions (and OPT) must fit, else 'too-large'. Invalid field values are programmer errors
 * (assertions): callers check names with checkName and addresses with parseIpv4/parseIpv6.
 */
export function encodeDnsMessage(message: DnsMessage, options: DnsEncodeOptions = {}): Result<DnsEncoded, DnsEncodeError> {
  const maxBytes = options.maxBytes ?? MAX_MESSAGE_BYTES;
  assert(isUint(maxBytes, MAX_MESSAGE_BYTES) && maxBytes >= MIN_UDP_PAYLOAD_BYTES, `maxBytes must be in [512, 65535], got ${maxBytes}`);
  const h = message.header;
  assert(isUint(h.id, U16) && isUint(h.opcode, 0xf) && isUint(h.z, 0x7) && isUint(h.rcode, 0xf), 'header fields out of range');
  const w = new Writer();
  w.u16(h.id);
  w.u16(0); // flags, written last (TC may change)
  w.u16(message.questions.length);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  assert(message.questions.length <= U16, 'at most 65535 questions');
  for (const q of message.questions) {
    assert(isUint(q.type, U16) && isUint(q.class, U16), 'question type and class are 16 bits');
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  const reserved = message.edns === null ? 0 : optBytes(message.edns);
  if (w.length + reserved > maxBytes) return err({ code: 'too-large', sizeBytes: w.length + reserved, maxBytes });
  const budget = maxBytes - reserved;
  let truncated = false;
  const section = (records: readonly DnsRecord[], truncates: boolean): number => {
    let written = 0;
    for (const rec of records) {
      const mark = w.mark();
      writeRecord(w, rec);
      if (w.length > budget) {
        w.rollback(mark);
        if (truncates) truncated = true;
        break;
      }
      written++;
    }
    return written;
  };
  const answers = section(message.answers, true);
  const authorities = truncated ? 0 : section(message.authorities, true);
  const additionals = truncated ? 0 : section(message.additionals, false);
  if (message.edns !== null) writeOpt(w, message.edns);
  const tc = h.tc || truncated;
  w.setU16(2, (h.qr ? 0x8000 : 0) | (h.opcode << 11) | (h.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) | (h.z << 4) | h.rcode);
  w.setU16(6, answers);
  w.setU16(8, authorities);
  w.setU16(10, additionals + (message.edns === null ? 0 : 1));
  return ok({ bytes: w.result(), truncated, written: { answers, authorities, additionals } });
}
