// `sappers job ...`: job files and the jobs the cluster runs (issue 6, item 1).
//   validate FILE         check a file as the cluster will, without an agent
//   run FILE [--detach]   register it, then watch the rollout until it settles
//   plan FILE             what a run would do now (a dry run)
//   status [NAME]         one job in detail, or every job
//   list                  every job
//   stop NAME [--purge]   stop it (purge: forget it and its history)
//   history NAME          kept versions and what changed in each
// Files are parsed here, so that a mistake shows as FILE:LINE:COL before anything is sent.
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { JobSpec } from '../../core/scheduler/job.ts';
import type { AllocSummary, JobListEntry, JobPlanView, JobStatusView, SpecChange } from '../../api/jobs.ts';
import type { SappersClient } from '../../client/client.ts';
import { parseDuration } from '../../wire/duration.ts';
import { formatJobFileErrors, parseJobFile } from '../../wire/job-file.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatFields, formatTable, printJson } from '../output.ts';

/** How often `job run` looks at the rollout. */
const WATCH_INTERVAL_MS = 1000;
/** A blocked or paused rollout is reported once it has been so on this many looks in a row. */
const BLOCKED_LOOKS = 2;

export function jobCommand(): Command {
  const job = new Command('job')
    .summary('run and inspect jobs')
    .description(
      'Jobs are what the cluster runs, described in job files (see "Job files" and "Running jobs" in docs/operator-guide.md). ' +
        'Commands that take a FILE read and check it here first: a mistake is reported as FILE:LINE:COL: field: problem, with exit code 2, before anything is sent.',
    );

  job
    .command('validate')
    .argument('<file>', 'a job file (YAML)')
    .summary('check a job file, without an agent')
    .description(
      'Read a job file and check it as the cluster would: every problem is printed as FILE:LINE:COL: field: what is wrong, and the command exits 2. ' +
        'A valid file prints the job as the cluster will see it, defaults filled in (--json for all of it).',
    )
    .option('--json', 'print the parsed job as JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      const spec = await readJobFile(file);
      if (options.json) return printJson(spec);
      console.log(
        formatFields([
          ['Job', spec.job],
          ['Type', spec.type],
          ['Count', spec.type === 'system' ? 'one per eligible node' : spec.count],
          ['Driver', spec.driver],
          ['CPU', `${spec.resources.cpuMillis}m`],
          ['Memory', `${spec.resources.memoryMB} MB`],
          ['Ports', spec.resources.ports.map((p) => (p.static === undefined ? `${p.label} (dynamic)` : `${p.label}=${p.static}`))],
          ['Constraints', spec.constraints.map((c) => `${c.attribute} ${c.operator}${c.value === undefined ? '' : ` ${c.value}`}`)],
          ['Spread', spec.spread.map((s) => `${s.attribute} (weight ${s.weight})`)],
          ['Service', spec.service === undefined ? undefined : `${spec.service.name} on port ${spec.service.port}, ${spec.service.checks.length} check(s)`],
        ]),
      );
      console.log(`\n${file} is valid`);
    });

  job
    .command('run')
    .argument('<file>', 'a job file (YAML)')
    .summary('run a job file on the cluster, and watch it roll out')
    .description(
      'Register the job in FILE with the cluster (a new version when it differs from the one running; the same spec again changes nothing). ' +
        'Then, unless --detach, watch the rollout and print its progress (placed, running, healthy) until every instance of the new version runs and is healthy, ' +
        'a rolling update succeeds or fails, or the scheduler cannot place instances (blocked: no node has room or meets the constraints; paused: fewer nodes than cluster.minNodes). ' +
        'Ctrl-C stops watching; the job keeps running.\n\n' +
        'Exit code 0 when the job was registered and (unless --detach) rolled out; 1 when the rollout failed, is blocked or paused, or did not finish within --timeout ' +
        '(the job stays registered: see `sappers job status NAME`); 2 for an invalid file; 130 after Ctrl-C.',
    )
    .option('--detach', 'register the job and return at once')
    .option('--timeout <duration>', 'stop watching after this long, e.g. 90s or 10m', '5m')
    .option('--json', 'print JSON: the registration, and (unless --detach) how the rollout ended with the last status')
    .action(async (file: string, options: { detach?: boolean; timeout: string; json?: boolean }, command: Command) => {
      const spec = await readJobFile(file);
      const timeoutMs = parseDurationFlag('--timeout', options.timeout);
      const client = clientFrom(command);
      const run = await client.jobRun(spec);
      if (!options.json) {
        console.log(run.changed ? `Job "${run.job}" registered: version ${run.version}` : `Job "${run.job}" unchanged: version ${run.version} already runs this spec`);
      }
      if (options.detach) {
        if (options.json) printJson(run);
        return;
      }
      const outcome = await watchRollout(client, run.job, run.version, timeoutMs, options.json === true);
      if (options.json) printJson({ ...run, outcome: outcome.kind, message: outcome.message, status: outcome.status ?? null });
      else console.log(outcome.message);
      process.exitCode = outcome.kind === 'done' ? 0 : outcome.kind === 'interrupted' ? 130 : 1;
    });

  job
    .command('plan')
    .argument('<file>', 'a job file (YAML)')
    .summary('show what running a job file would do, without changing anything')
    .description(
      'Ask the cluster what `sappers job run FILE` would do now: create the job, start it again, change nothing, change it in place (count or update policy: ' +
        'running instances stay), or roll out a new task (instances replaced maxParallel at a time, each old one stopped once its replacement is healthy). ' +
        'Lists the spec keys that changed, the placements the scheduler would make now (instance and node), the instances it would stop, and any it could not place and why.\n\n' +
        'Exit code 0, or 1 when instances could not be placed (blocked or paused); 2 for an invalid file.',
    )
    .option('--stale', "plan on this agent's copy of the state without confirming with the leader")
    .option('--json', 'print the plan as JSON')
    .action(async (file: string, options: { stale?: boolean; json?: boolean }, command: Command) => {
      const spec = await readJobFile(file);
      const plan = await clientFrom(command).jobPlan(spec, { stale: options.stale === true });
      if (options.json) printJson(plan);
      else console.log(formatPlan(plan));
      if (plan.blocked !== null || plan.paused !== null) process.exitCode = 1;
    });

  job
    .command('status')
    .argument('[name]', 'the job (without it: every job, as `job list`)')
    .summary('show a job: its version, rollout, instance counts and allocations')
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON instead of tables')
    .action(async (name: string | undefined, options: { stale?: boolean; json?: boolean }, command: Command) => {
      const client = clientFrom(command);
      if (name === undefined) return printJobList(await client.jobs({ stale: options.stale === true }), options.json === true);
      const status = await client.jobStatus(name, { stale: options.stale === true });
      if (options.json) return printJson(status);
      console.log(formatStatus(status));
    });

  job
    .command('list')
    .alias('ls')
    .summary('list every job with its instance counts')
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { stale?: boolean; json?: boolean }, command: Command) => {
      printJobList(await clientFrom(command).jobs({ stale: options.stale === true }), options.json === true);
    });

  job
    .command('stop')
    .argument('<name>', 'the job')
    .summary('stop a job (its allocations are stopped); --purge forgets it')
    .description(
      'Stop the job: the scheduler stops every allocation of it (each gets its stop timeout). The job, its versions and its last allocations stay for ' +
        '`job status` and `job history`; `job run` starts it again as a new version. With --purge the cluster forgets the job and its history.',
    )
    .option('--purge', 'forget the job and its history as well')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { purge?: boolean; json?: boolean }, command: Command) => {
      const r = await clientFrom(command).jobStop(name, { purge: options.purge === true });
      if (options.json) return printJson(r);
      if (r.purged) console.log(`Job "${r.job}" purged: its allocations are stopped and its history forgotten`);
      else if (r.changed) console.log(`Job "${r.job}" stopped (version ${r.version}): the scheduler stops its allocations`);
      else console.log(`Job "${r.job}" was already stopped (version ${r.version})`);
    });

  job
    .command('history')
    .argument('<name>', 'the job')
    .summary("list a job's kept versions and what changed in each")
    .description(
      'The versions the cluster keeps of the job (the current one and up to 10 before it), newest first: when each was submitted, the hash of its task ' +
        '(equal hashes run the same thing: count and update policy are left out), and the top-level keys that changed from the version before. --json includes each spec.',
    )
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON (with every version\'s spec)')
    .action(async (name: string, options: { stale?: boolean; json?: boolean }, command: Command) => {
      const h = await clientFrom(command).jobHistory(name, { stale: options.stale === true });
      if (options.json) return printJson(h);
      const now = Date.now();
      console.log(
        formatTable(
          ['VERSION', 'CURRENT', 'SUBMITTED', 'TASK', 'CHANGED'],
          h.versions.map((v) => [v.version, v.current ? (h.status === 'stopped' ? 'yes (stopped)' : 'yes') : '', `${formatTime(v.submittedAtMs)} (${formatAge(now, v.submittedAtMs)})`, v.taskSha256.slice(0, 12), v.changed]),
        ),
      );
    });
  return job;
}

// --- Reading files -------------------------------------------------------------------------------

async function readJobFile(file: string): Promise<JobSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
  const parsed = parseJobFile(file, text);
  if (!parsed.ok) throw new CliError(`${file} is not a valid job file:\n${formatJobFileErrors(parsed.error)}`, 2);
  return parsed.value;
}

export function parseDurationFlag(flag: string, text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new CliError(`${flag}: ${parsed.error}`, 2);
  return parsed.value;
}

// --- Watching a rollout --------------------------------------------------------------------------

interface RolloutOutcome {
  readonly kind: 'done' | 'failed' | 'blocked' | 'paused' | 'superseded' | 'stopped' | 'timeout' | 'interrupted';
  readonly message: string;
  readonly status?: JobStatusView;
}

/** Looks at the job every second until its version `version` has rolled out, or cannot. */
async function watchRollout(client: SappersClient, name: string, version: number, timeoutMs: number, quiet: boolean): Promise<RolloutOutcome> {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const deadline = Date.now() + timeoutMs;
  let lastLine = '';
  let blockedLooks = 0;
  let status: JobStatusView | undefined;
  try {
    for (;;) {
      status = await client.jobStatus(name);
      const line = progressLine(status);
      if (!quiet && line !== lastLine) console.log(`  ${line}`);
      lastLine = line;
      const settled = rolloutState(status, version);
      if (settled !== undefined) return { ...settled, status };
      blockedLooks = status.blocked !== null || status.paused !== null ? blockedLooks + 1 : 0;
      if (blockedLooks >= BLOCKED_LOOKS) {
        const hint = 'the job stays registered: the scheduler places the instances once there is room (add nodes, or change the job and run it again)';
        if (status.paused !== null) return { kind: 'paused', message: `Rollout paused: ${status.paused}; ${hint}`, status };
        return { kind: 'blocked', message: `Rollout blocked: ${status.blocked!.unplaced} instance(s) cannot be placed: ${status.blocked!.summary}; ${hint}`, status };
      }
      if (Date.now() >= deadline) return { kind: 'timeout', message: `Still rolling out after ${timeoutMs / 1000}s; the job keeps going: see \`sappers job status ${name}\``, status };
      if (!(await sleep(WATCH_INTERVAL_MS, controller.signal))) return { kind: 'interrupted', message: `Stopped watching; the job keeps running: see \`sappers job status ${name}\``, status };
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Settled one way or another, or undefined while the rollout goes on. */
function rolloutState(status: JobStatusView, version: number): Omit<RolloutOutcome, 'status'> | undefined {
  if (status.version !== version) {
    const why = status.deployment?.version === version && status.deployment.status === 'failed' ? `: ${status.deployment.reason}` : '';
    return { kind: 'superseded', message: `Version ${version} is no longer current: the job is at version ${status.version}${why}` };
  }
  if (status.status === 'stopped') return { kind: 'stopped', message: `Job "${status.name}" was stopped` };
  const d = status.deployment;
  if (d !== null && d.version === version) {
    if (d.status === 'failed') return { kind: 'failed', message: `Rollout of version ${version} failed: ${d.reason}` };
    if (d.status === 'successful') return { kind: 'done', message: `Version ${version} rolled out: ${d.reason}` };
    return undefined;
  }
  const n = status.instances;
  if (status.type === 'batch') {
    return n.complete >= n.desired ? { kind: 'done', message: `All ${n.desired} instance(s) completed` } : undefined;
  }
  if (n.current >= n.desired && n.placed === n.desired && n.running === n.desired && n.healthy === n.desired && n.stopping === 0) {
    return { kind: 'done', message: `Version ${version} is running: ${n.healthy} of ${n.desired} instance(s) healthy` };
  }
  return undefined;
}

function progressLine(s: JobStatusView): string {
  const n = s.instances;
  const parts = [`placed ${n.placed}/${n.desired}`, `running ${n.running}`, `healthy ${n.healthy}`];
  if (n.unhealthy > 0) parts.push(`unhealthy ${n.unhealthy}`);
  if (n.stopping > 0) parts.push(`stopping ${n.stopping}`);
  if (s.type === 'batch') parts.push(`complete ${n.complete}`);
  if (n.failed > 0) parts.push(`failed ${n.failed}`);
  let line = parts.join(', ');
  if (s.deployment !== null && s.deployment.version === s.version) line += `; deployment ${s.deployment.status}`;
  return line;
}

/** Resolves true after ms, or false as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// --- Views ---------------------------------------------------------------------------------------

function printJobList(jobs: JobListEntry[], json: boolean): void {
  if (json) return printJson(jobs);
  if (jobs.length === 0) return console.log('no jobs');
  const now = Date.now();
  console.log(
    formatTable(
      ['NAME', 'TYPE', 'STATUS', 'VERSION', 'DESIRED', 'PLACED', 'RUNNING', 'HEALTHY', 'DEPLOYMENT', 'SUBMITTED'],
      jobs.map((j) => [
        j.name,
        j.type,
        j.status,
        j.version,
        j.instances.desired,
        j.instances.placed,
        j.instances.running,
        j.instances.healthy,
        j.deployment === null ? '' : `v${j.deployment.version} ${j.deployment.status}`,
        formatAge(now, j.submittedAtMs),
      ]),
    ),
  );
}

function formatStatus(s: JobStatusView): string {
  const now = Date.now();
  const n = s.instances;
  const counts = [`desired ${n.desired}`, `placed ${n.placed}`, `pending ${n.pending}`, `running ${n.running}`, `healthy ${n.healthy}`, `unhealthy ${n.unhealthy}`];
  if (n.current !== n.placed) counts.push(`on this version ${n.current}`);
  for (const [k, v] of [['stopping', n.stopping], ['complete', n.complete], ['failed', n.failed], ['lost', n.lost]] as const) if (v > 0) counts.push(`${k} ${v}`);
  const fields: Array<[string, unknown]> = [
    ['Name', s.name],
    ['Type', s.type],
    ['Status', s.status],
    ['Version', s.version],
    ['Submitted', `${formatTime(s.submittedAtMs)} (${formatAge(now, s.submittedAtMs)})`],
    ['Deployment', s.deployment === null ? undefined : `version ${s.deployment.version} ${s.deployment.status}: ${s.deployment.reason}`],
    ['Instances', counts.join(', ')],
  ];
  if (s.blocked !== null) fields.push(['Blocked', `${s.blocked.unplaced} instance(s) cannot be placed: ${s.blocked.summary}`]);
  if (s.paused !== null) fields.push(['Paused', s.paused]);
  const lines = [formatFields(fields)];
  lines.push('', 'Allocations');
  lines.push(s.allocations.length === 0 ? 'none' : allocTable(s.allocations, false));
  return lines.join('\n');
}

/** The allocation table `job status` and `alloc list` share. */
export function allocTable(allocs: readonly AllocSummary[], withJob: boolean): string {
  const now = Date.now();
  const headers = ['ID', ...(withJob ? ['JOB'] : []), 'INDEX', 'NODE', 'VERSION', 'DESIRED', 'CLIENT', 'HEALTH', 'RESTARTS', 'CREATED', 'MODIFIED'];
  return formatTable(
    headers,
    allocs.map((a) => [shortId(a.id), ...(withJob ? [a.job] : []), a.index, a.node, a.jobVersion, a.desired, a.client, a.health, a.restarts, formatAge(now, a.createdAtMs), formatAge(now, a.modifiedAtMs)]),
  );
}

function formatPlan(p: JobPlanView): string {
  const lines: string[] = [];
  switch (p.kind) {
    case 'create':
      lines.push(`+ Job "${p.job}": new, version ${p.nextVersion}`);
      break;
    case 'start':
      lines.push(`+ Job "${p.job}": stopped now; starts again as version ${p.nextVersion}`);
      break;
    case 'unchanged':
      lines.push(`= Job "${p.job}": unchanged (version ${p.currentVersion ?? p.nextVersion} runs this spec)`);
      break;
    case 'in-place':
      lines.push(`~ Job "${p.job}": changed in place, version ${p.currentVersion} -> ${p.nextVersion} (the task is the same: running instances stay)`);
      break;
    case 'rolling-update':
      lines.push(`~ Job "${p.job}": rolling update, version ${p.currentVersion} -> ${p.nextVersion} (the task changed: instances are replaced)`);
      break;
  }
  if (p.changes.length > 0) {
    lines.push('', 'Changes:');
    for (const c of p.changes) lines.push(`  ${formatChange(c)}`);
  }
  if (p.place.length > 0) {
    lines.push('', 'Would place now:');
    for (const x of p.place) {
      const ports = Object.entries(x.ports).map(([label, port]) => `${label}=${port}`);
      lines.push(`  + ${p.job}[${x.index}] on ${x.node}: ${x.reason}${x.replaces === null ? '' : ` (replaces ${shortId(x.replaces)})`}${ports.length === 0 ? '' : `; ports ${ports.join(' ')}`}`);
    }
  }
  if (p.stop.length > 0) {
    lines.push('', 'Would stop now:');
    for (const x of p.stop) lines.push(`  - ${p.job}[${x.index}] ${shortId(x.alloc)} on ${x.node}: ${x.reason}`);
  }
  if (p.update !== null) {
    lines.push('', `Rolling update: ${p.update.outdated.length} instance(s) run an older version; ${p.update.maxParallel} at a time (maxParallel), each old one stops once its replacement has been healthy for minHealthy:`);
    for (const o of p.update.outdated) lines.push(`  ~ ${p.job}[${o.index}] ${shortId(o.alloc)} on ${o.node} (version ${o.version})`);
  }
  if (p.blocked !== null) lines.push('', `Blocked: ${p.blocked.unplaced} instance(s) cannot be placed: ${p.blocked.summary}`);
  if (p.paused !== null) lines.push('', `Paused: ${p.paused}`);
  if (p.place.length === 0 && p.stop.length === 0 && p.blocked === null && p.paused === null && p.update === null) lines.push('', 'Nothing to place or stop.');
  return lines.join('\n');
}

function formatChange(c: SpecChange): string {
  const simple = (v: unknown): boolean => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  if (c.change === 'added') return `+ ${c.field}${simple(c.after) ? `: ${JSON.stringify(c.after)}` : ''}`;
  if (c.change === 'removed') return `- ${c.field}${simple(c.before) ? `: ${JSON.stringify(c.before)}` : ''}`;
  if (simple(c.before) && simple(c.after)) return `~ ${c.field}: ${JSON.stringify(c.before)} => ${JSON.stringify(c.after)}`;
  return `~ ${c.field} (changed; see --json)`;
}

/** The first 8 characters, as Nomad shows allocation IDs (any unique prefix of 4 or more works as an argument). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "12s ago", "5m ago", "3h ago", "2d ago". */
export function formatAge(nowMs: number, thenMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
