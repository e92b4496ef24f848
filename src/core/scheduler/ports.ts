// Dynamic host ports, picked deterministically: the same plan input gives the same ports on
// every run and every replica. Each port starts probing at a point hashed from the job, the
// instance and the label, then walks up the range (wrapping) to the first port free on the node.
// Hashing rather than lowest-free keeps a port just released from being handed straight to the
// next instance on the node, where clients of the old one may still connect.
import { DYNAMIC_PORT_RANGE } from './job.ts';
import { DYNAMIC_PORT_COUNT } from './feasibility.ts';

/** FNV-1a, 32 bits: a small, stable hash of text (not for security). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Picks one port per label from DYNAMIC_PORT_RANGE, none in `used`, all distinct. The caller
 * has checked that enough ports are free; running out is a programmer error.
 */
export function pickDynamicPorts(used: ReadonlySet<number>, job: string, index: number, labels: readonly string[]): number[] {
  const picked: number[] = [];
  for (const label of labels) {
    const start = fnv1a32(`${job}\u0000${index}\u0000${label}`) % DYNAMIC_PORT_COUNT;
    let port = -1;
    for (let step = 0; step < DYNAMIC_PORT_COUNT; step++) {
      const candidate = DYNAMIC_PORT_RANGE.min + ((start + step) % DYNAMIC_PORT_COUNT);
      if (!used.has(candidate) && !picked.includes(candidate)) {
        port = candidate;
        break;
      }
    }
    if (port < 0) throw new Error(`assertion failed: no free dynamic port for ${job}[${index}] ${label}; feasibility should have refused the node`);
    picked.push(port);
  }
  return picked;
}
