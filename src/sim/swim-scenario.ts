// The membership protocol in the simulator: SWIM cores behind the real Membership runtime, on
// the simulated network, under a random fault schedule (partitions, one-way blocks, loss,
// crashes and restarts, drifting clocks). After the faults are healed, the invariant is the
// promise SWIM makes: no live member stays wrongly dead; every node converges to one view.
import { SWIM_PRESETS } from '../core/swim/config.ts';
import { Swim } from '../core/swim/swim.ts';
import type { NodeId } from '../core/swim/types.ts';
import { Membership } from '../runtime/membership.ts';
import { createWireCodec } from '../wire/messages.ts';
import type { NodeMeta } from '../wire/swim.ts';
import { applyFaultSchedule, randomFaultSchedule } from './faults.ts';
import { Simulation } from './simulation.ts';
import type { Scenario } from './scenarios.ts';

export interface SwimScenarioSettings {
  readonly nodes: number;
  readonly faultPhaseMs: number;
  /** Healed time allowed to converge: suspicion timeouts plus a few push-pull rounds. */
  readonly livenessPhaseMs: number;
}

const META: NodeMeta = {
  protocol: 1,
  version: 'sim',
  tags: {},
  resources: { cpuCores: 1, memoryTotalBytes: 0, memoryFreeBytes: 0, diskFreeBytes: 0, load1: 0 },
  rpcAddr: '',
  httpAddr: '',
  startedAtMs: 0,
};

export function swimScenario(name: string, description: string, settings: SwimScenarioSettings, replayCommand: (seed: number, maxSteps?: number) => string): Scenario {
  return {
    name,
    description,
    async run(options) {
      const sim = new Simulation<Membership>({
        seed: options.seed,
        replayCommand: replayCommand(options.seed, options.maxSteps),
        clockDriftMax: 0.01,
        network: { defaultLink: { delayMinMs: 1, delayMaxMs: 10, lossProbability: 0.02, duplicateProbability: 0.01, reorderProbability: 0.05, reorderExtraMaxMs: 20 } },
        ...(options.traceMaxLines === undefined ? {} : { traceMaxLines: options.traceMaxLines }),
      });
      if (options.onTraceLine !== undefined) sim.trace.onLine(options.onTraceLine);
      const ids = Array.from({ length: settings.nodes }, (_, i) => `n${i + 1}`);
      const gossipAddr = (id: string): string => sim.addressesOf(id).datagram;
      const streamAddr = new Map(ids.map((id) => [gossipAddr(id), sim.addressesOf(id).rpc]));
      const config = SWIM_PRESETS.local;

      for (const id of ids) {
        sim.addNode(id, (ctx) => {
          const swim = new Swim<NodeMeta>({ id: id as NodeId, addr: gossipAddr(id), meta: META, config, random: ctx.random, nowMs: ctx.clock.nowMs() });
          const membership = new Membership({
            swim,
            datagrams: ctx.datagram,
            stream: ctx.rpc,
            codec: createWireCodec(),
            clock: ctx.clock,
            streamAddress: (addr) => streamAddr.get(addr) ?? addr,
          });
          membership.subscribe((e) => {
            if (e.kind !== 'join-failed' && e.kind !== 'joined' && e.kind !== 'conflict') sim.trace.record(id, `member ${e.member.id} ${e.kind} inc=${e.member.incarnation}`);
          });
          // Every node (re)joins through all the others, as an operator's --join list would.
          membership.join(ids.filter((other) => other !== id).map(gossipAddr));
          return membership;
        });
      }

      const schedule = randomFaultSchedule(sim.random('faults'), {
        nodes: ids,
        durationMs: settings.faultPhaseMs,
        meanGapMs: 2000,
        baseLossProbability: 0.02,
        maxLossProbability: 0.2,
        weights: { 'slow-disk': 0 },
      });
      applyFaultSchedule(sim, schedule);

      const endMs = settings.faultPhaseMs + settings.livenessPhaseMs;
      let verdict: string | undefined;
      sim.clock.scheduleAt(endMs, () => {
        sim.trace.record('sim', 'convergence check');
        const wrong: string[] = [];
        for (const node of sim.nodes()) {
          const view = node.instance?.members() ?? [];
          for (const id of ids) {
            const status = view.find((m) => m.id === id)?.status;
            if (status !== 'alive') wrong.push(`${node.id} sees ${id} ${status ?? 'unknown'}`);
          }
        }
        if (wrong.length > 0) verdict = `not converged ${settings.livenessPhaseMs} ms after the heal: ${wrong.slice(0, 8).join('; ')}${wrong.length > 8 ? ` (+${wrong.length - 8} more)` : ''}`;
      });
      sim.invariant('no live member stays wrongly dead after healing', () => verdict);
      sim.invariant('a node never sees itself as anything but alive', () => {
        for (const node of sim.nodes()) {
          const self = node.instance?.swim.self();
          if (self && self.status !== 'alive') return `${node.id} sees itself ${self.status}`;
        }
        return undefined;
      });

      const result = await sim.run(options.maxSteps === undefined ? { untilMs: endMs + 1 } : { untilMs: endMs + 1, maxSteps: options.maxSteps });
      sim.trace.record('sim', `end steps=${result.steps} ${result.ok ? 'ok' : 'FAILED'}`);
      return { scenario: name, seed: options.seed, result, traceDigest: sim.trace.digest(), traceLines: sim.trace.count, simulation: sim as Simulation<unknown> };
    },
  };
}
