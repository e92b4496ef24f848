// A small catalog behind the DnsLookup interface, and helpers to ask and read DNS messages.
import assert from 'node:assert/strict';
import { decodeDnsMessage, DNS_CLASS, DNS_TYPE, encodeDnsMessage, type DnsEdns, type DnsMessage, type DnsName } from '../../../src/wire/dns.ts';
import type { DnsLookup, DnsServiceInstance } from '../../../src/runtime/dns/responder.ts';

export interface CatalogInstance extends DnsServiceInstance {
  readonly tags: readonly string[];
}

export interface Catalog {
  readonly services: Readonly<Record<string, readonly CatalogInstance[]>>;
  readonly nodes: Readonly<Record<string, string>>;
}

/** Looks names up case-insensitively, as the agent's lookup must; records every call. */
export function catalogLookup(catalog: Catalog, calls: string[] = []): DnsLookup {
  return {
    services(name, tag) {
      calls.push(`services(${name}${tag === undefined ? '' : `, ${tag}`})`);
      const instances = Object.entries(catalog.services).find(([n]) => n.toLowerCase() === name)?.[1];
      if (instances === undefined) return { exists: false, instances: [] };
      return { exists: true, instances: tag === undefined ? instances : instances.filter((i) => i.tags.some((t) => t.toLowerCase() === tag)) };
    },
    node(name) {
      calls.push(`node(${name})`);
      return Object.entries(catalog.nodes).find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
    },
  };
}

export const EDNS: DnsEdns = { udpPayloadBytes: 4096, extendedRcode: 0, version: 0, dnssecOk: false, z: 0, options: [] };

export function queryBytes(name: DnsName | string, type: number = DNS_TYPE.A, options: { id?: number; edns?: DnsEdns | null; opcode?: number; class?: number } = {}): Uint8Array {
  const labels = typeof name === 'string' ? name.split('.') : name;
  const encoded = encodeDnsMessage({
    header: { id: options.id ?? 0x4242, qr: false, opcode: options.opcode ?? 0, aa: false, tc: false, rd: true, ra: false, z: 0, rcode: 0 },
    questions: [{ name: labels, type, class: options.class ?? DNS_CLASS.IN }],
    answers: [],
    authorities: [],
    additionals: [],
    edns: options.edns ?? null,
  });
  assert.ok(encoded.ok);
  return encoded.value.bytes;
}

export function decodeReply(bytes: Uint8Array): DnsMessage {
  const decoded = decodeDnsMessage(bytes);
  assert.ok(decoded.ok, `reply does not decode: ${JSON.stringify(decoded)}`);
  assert.equal(decoded.value.header.qr, true);
  return decoded.value;
}

/** The full 12-bit response code of a reply. */
export function rcodeOf(m: DnsMessage): number {
  return ((m.edns?.extendedRcode ?? 0) << 4) | m.header.rcode;
}

export function addressesOf(m: DnsMessage): string[] {
  return m.answers.flatMap((r) => (r.data.type === 'A' || r.data.type === 'AAAA' ? [r.data.address] : [])).sort();
}
