// The node attributes that constraints and spreads name (job.ts, Constraint). Every attribute
// reads as a string, as it would in a job file; numeric operators parse it back.
import type { NodeInfo } from './job.ts';

export const NODE_ATTRIBUTES = ['node.id', 'node.version', 'resources.cpuCores', 'resources.memoryMB', 'resources.diskFreeMB'] as const;
export const TAG_PREFIX = 'tag.';

/** True for the attributes above and for `tag.<key>` with a non-empty key. */
export function isNodeAttribute(attribute: string): boolean {
  return (NODE_ATTRIBUTES as readonly string[]).includes(attribute) || (attribute.startsWith(TAG_PREFIX) && attribute.length > TAG_PREFIX.length);
}

/** The attribute's value on the node, or undefined when the node has none (an unset tag, an unknown name). */
export function nodeAttribute(node: NodeInfo, attribute: string): string | undefined {
  switch (attribute) {
    case 'node.id':
      return node.id;
    case 'node.version':
      return node.version;
    case 'resources.cpuCores':
      return String(node.cpuCores);
    case 'resources.memoryMB':
      return String(node.memoryMB);
    case 'resources.diskFreeMB':
      return String(node.diskFreeMB);
  }
  if (attribute.startsWith(TAG_PREFIX)) {
    const key = attribute.slice(TAG_PREFIX.length);
    return Object.hasOwn(node.tags, key) ? node.tags[key] : undefined;
  }
  return undefined;
}
