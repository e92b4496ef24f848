// What a question name asks about, in the Sappers zone (Consul's layout, which operators know):
//   <name>.service.<domain>             passing instances of a service (A, AAAA, SRV)
//   <tag>.<name>.service.<domain>       ... only those with the tag
//   _<name>._tcp.service.<domain>       RFC 2782 SRV form; _<name>._<tag> filters by tag
//   <node>.node.<domain>                a node's address (node IDs may contain dots)
//   <hex>.addr.<domain>                 an SRV target for an instance whose address is not its
//                                       node's: 8 hex digits for IPv4, 32 for IPv6
// Labels are compared in ASCII lower case (RFC 4343); the lookup gets lower-case names.
import { lowerAscii, type DnsName } from '../../wire/dns.ts';

export type QueryTarget =
  /** Not in our domain: REFUSED (we are not a recursive resolver). */
  | { readonly kind: 'outside' }
  /** The domain itself. */
  | { readonly kind: 'apex' }
  /** service.<domain>, node.<domain>, addr.<domain>: names that exist only as parents (NODATA). */
  | { readonly kind: 'empty' }
  | { readonly kind: 'service'; readonly name: string; readonly tag: string | undefined }
  | { readonly kind: 'node'; readonly name: string }
  | { readonly kind: 'addr'; readonly bytes: Uint8Array }
  /** In our domain, but no such name can exist: NXDOMAIN. */
  | { readonly kind: 'none' };

export const SERVICE_LABEL = 'service';
export const NODE_LABEL = 'node';
export const ADDR_LABEL = 'addr';

/** domain: lower-case labels of the zone, e.g. ['sappers']. */
export function classifyQueryName(name: DnsName, domain: DnsName): QueryTarget {
  const labels = name.map(lowerAscii);
  const rel = labels.length - domain.length;
  if (rel < 0) return { kind: 'outside' };
  for (let i = 0; i < domain.length; i++) if (labels[rel + i] !== domain[i]) return { kind: 'outside' };
  if (rel === 0) return { kind: 'apex' };
  const parts = labels.slice(0, rel);
  // A label holding a dot byte cannot be told apart from two labels once joined: no such name.
  if (parts.some((l) => l.includes('.'))) return { kind: 'none' };
  const kind = parts[parts.length - 1];
  const rest = parts.slice(0, -1);
  if (kind !== SERVICE_LABEL && kind !== NODE_LABEL && kind !== ADDR_LABEL) return { kind: 'none' };
  if (rest.length === 0) return { kind: 'empty' };
  switch (kind) {
    case SERVICE_LABEL:
      return serviceTarget(rest);
    case NODE_LABEL:
      return { kind: 'node', name: rest.join('.') };
    case ADDR_LABEL: {
      const bytes = rest.length === 1 ? decodeAddrLabel(rest[0] as string) : undefined;
      return bytes === undefined ? { kind: 'none' } : { kind: 'addr', bytes };
    }
  }
}

function serviceTarget(rest: readonly string[]): QueryTarget {
  if (rest.length === 1) {
    const name = rest[0] as string;
    return name.startsWith('_') ? { kind: 'none' } : { kind: 'service', name, tag: undefined };
  }
  if (rest.length !== 2) return { kind: 'none' };
  const [first, second] = rest as [string, string];
  if (first.startsWith('_') && second.startsWith('_')) {
    const name = first.slice(1);
    const proto = second.slice(1);
    if (name.length === 0 || proto.length === 0) return { kind: 'none' };
    // Consul's reading of RFC 2782: _tcp means "any instance"; any other second label is a tag.
    return { kind: 'service', name, tag: proto === 'tcp' ? undefined : proto };
  }
  if (first.startsWith('_') || second.startsWith('_')) return { kind: 'none' };
  return { kind: 'service', name: second, tag: first };
}

/** The label for an address: lower-case hex of its bytes (8 digits for IPv4, 32 for IPv6). */
export function encodeAddrLabel(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function decodeAddrLabel(label: string): Uint8Array | undefined {
  if ((label.length !== 8 && label.length !== 32) || !/^[0-9a-f]+$/.test(label)) return undefined;
  const out = new Uint8Array(label.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(label.slice(2 * i, 2 * i + 2), 16);
  return out;
}
