// Builders for scheduler tests: a job or node with sensible defaults and the fields a test cares
// about overridden.
import { DEFAULT_RESTART, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_UPDATE, type Constraint, type JobSpec, type NodeInfo, type PortRequest, type Spread } from '../../../src/core/scheduler/job.ts';

export interface JobShape {
  readonly count?: number;
  readonly cpuMillis?: number;
  readonly memoryMB?: number;
  readonly ports?: readonly PortRequest[];
  readonly constraints?: readonly Constraint[];
  readonly spread?: readonly Spread[];
}

export function job(name: string, shape: JobShape = {}): JobSpec {
  return {
    job: name,
    type: 'service',
    count: shape.count ?? 1,
    driver: 'process',
    config: { command: 'true' },
    env: {},
    resources: { cpuMillis: shape.cpuMillis ?? 100, memoryMB: shape.memoryMB ?? 128, ports: shape.ports ?? [] },
    constraints: shape.constraints ?? [],
    spread: shape.spread ?? [],
    restart: DEFAULT_RESTART,
    update: DEFAULT_UPDATE,
    stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
  };
}

export function node(id: string, over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    id,
    version: '1.0.0',
    tags: {},
    cpuMillis: 4000,
    memoryMB: 8192,
    diskFreeMB: 100_000,
    cpuCores: 4,
    eligible: true,
    ...over,
  };
}

export function indexes(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}
