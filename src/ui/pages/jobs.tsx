// Jobs pages: #/jobs (every job with its instance counts and rollout), #/jobs/:name (the spec
// in short, the rollout, the counts, the allocations; stop and purge), #/allocs/:id (one
// allocation, every field, its log tail, restart). Data: GET /v1/jobs, /v1/jobs/NAME,
// /v1/allocs/ID (src/api/jobs.ts, src/api/allocs.ts), kept live by useLive (reloaded on each
// cluster event: placements, health and status changes are all events). The log tail polls:
// the API has no log stream (jobs-logs.tsx).

import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, apiSend } from '../api.ts';
import { Badge, Confirm, Empty, ErrorBox, Loading, Page, Table, type Column } from '../components/index.ts';
import { useLive, useNow } from '../hooks.ts';
import { LogTail } from './jobs-logs.tsx';
import { formatAgo as ago, shortNodeId } from '../format.ts';
import {
  allocHref,
  duration,
  isoTime,
  jobHref,
  shortId,
  type AllocSummary,
  type AllocView,
  type Deployment,
  type InstanceCounts,
  type JobListEntry,
  type JobSpecView,
  type JobStatusView,
} from './jobs-parts.ts';
import './jobs.css';

const JOB_COLUMNS: readonly Column<JobListEntry>[] = [
  { key: 'name', title: 'Job', value: (j) => j.name, render: (j) => <a href={jobHref(j.name)}>{j.name}</a> },
  { key: 'type', title: 'Type', value: (j) => j.type, wide: true },
  { key: 'version', title: 'Version', value: (j) => j.version, render: (j) => `v${j.version}`, align: 'right', wide: true },
  { key: 'status', title: 'Status', value: (j) => j.status, render: (j) => <Badge status={j.status} tone={j.status === 'running' ? 'good' : 'neutral'} /> },
  { key: 'placed', title: 'Placed', value: (j) => j.instances.placed, render: (j) => <span title="placed of desired">{`${j.instances.placed}/${j.instances.desired}`}</span>, align: 'right' },
  { key: 'running', title: 'Running', value: (j) => j.instances.running, align: 'right', wide: true },
  { key: 'healthy', title: 'Healthy', value: (j) => j.instances.healthy, align: 'right' },
  {
    key: 'failed',
    title: 'Failed',
    value: (j) => j.instances.failed + j.instances.lost,
    render: (j) => <span class={j.instances.failed + j.instances.lost > 0 ? 'jobs-bad' : ''} title={`${j.instances.failed} failed, ${j.instances.lost} lost`}>{j.instances.failed + j.instances.lost}</span>,
    align: 'right',
  },
  { key: 'deployment', title: 'Deployment', value: (j) => j.deployment?.status ?? '', render: (j) => (j.deployment === null ? <span class="hint">none</span> : <DeploymentBadge d={j.deployment} />) },
];

export function JobsPage(): JSX.Element {
  const live = useLive<JobListEntry[]>('/v1/jobs');
  const jobs = live.data;
  return (
    <Page name="jobs" title="Jobs">
      {jobs === undefined ? (
        live.error !== undefined ? <ErrorBox error={live.error} onRetry={live.reload} /> : <Loading what="jobs" />
      ) : (
        <>
          {live.error !== undefined && <StaleNote error={live.error} />}
          <Table
            name="jobs"
            rows={jobs}
            columns={JOB_COLUMNS}
            rowKey={(j) => j.name}
            initialSort={{ key: 'name', descending: false }}
            filter
            filterPlaceholder="Filter jobs…"
            noun={['job', 'jobs']}
            rowClass={(j) => (j.status === 'stopped' ? 'jobs-stopped' : undefined)}
            empty={
              <Empty title="No jobs">
                Run one with <code>sappers job run FILE.yaml</code>; it shows here with its instances.
              </Empty>
            }
          />
        </>
      )}
    </Page>
  );
}

type Pending = { readonly kind: 'stop' } | { readonly kind: 'purge'; readonly typed: string } | undefined;
type Outcome = { readonly ok: boolean; readonly text: string } | undefined;

export function JobPage(props: { name?: string }): JSX.Element {
  const name = props.name ?? '';
  const live = useLive<JobStatusView>(name === '' ? null : `/v1/jobs/${encodeURIComponent(name)}`);
  const [pending, setPending] = useState<Pending>(undefined);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const now = useNow(5000);
  const job = live.data;
  // Stable, so the modal does not take the focus back on every render (it refocuses when its
  // onCancel changes).
  const cancel = useCallback(() => setPending(undefined), []);

  const act = async (purge: boolean): Promise<void> => {
    setBusy(true);
    try {
      const r = await apiSend<{ job: string; version: number; changed: boolean; purged: boolean }>('DELETE', `/v1/jobs/${encodeURIComponent(name)}${purge ? '?purge' : ''}`);
      setPending(undefined);
      if (r.purged) {
        location.hash = '#/jobs';
        return;
      }
      setOutcome({ ok: true, text: r.changed ? `Stopping ${r.job}: every allocation was told to stop.` : `${r.job} was already stopped.` });
      live.reload();
    } catch (e) {
      setPending(undefined);
      setOutcome({ ok: false, text: `Could not ${purge ? 'purge' : 'stop'} ${name}: ${e instanceof Error ? e.message : String(e)}` });
    } finally {
      setBusy(false);
    }
  };

  const title = (
    <>
      <a href="#/jobs">
        Jobs
      </a>{' '}
      / {name}
    </>
  );
  const actions =
    job === undefined ? undefined : (
      <>
        <button type="button" class="button" data-action="stop" disabled={busy || job.status === 'stopped'} title={job.status === 'stopped' ? 'already stopped' : 'stop every allocation of the job'} onClick={() => setPending({ kind: 'stop' })}>
          Stop
        </button>
        <button type="button" class="button button-danger" data-action="purge" disabled={busy} onClick={() => setPending({ kind: 'purge', typed: '' })}>
          Purge
        </button>
      </>
    );

  return (
    <Page name="job" title={title} actions={actions}>
      {job === undefined ? (
        live.error === undefined ? (
          <Loading what={`job ${name}`} />
        ) : isNotFound(live.error) ? (
          <Empty title={`No job named ${name}`}>
            It may have been purged. <a href="#/jobs">All jobs</a>
          </Empty>
        ) : (
          <ErrorBox error={live.error} onRetry={live.reload} />
        )
      ) : (
        <>
          {live.error !== undefined && <StaleNote error={live.error} />}
          <p class="jobs-summary">
            <Badge status={job.status} tone={job.status === 'running' ? 'good' : 'neutral'} /> <span>{job.type} job</span> · <span>version {job.version}</span> · <span>submitted <span title={isoTime(job.submittedAtMs)}>{ago(job.submittedAtMs, now)}</span></span>
          </p>
          <OutcomeNote outcome={outcome} />
          {pending?.kind === 'stop' && (
            <Confirm title={`Stop ${job.name}?`} confirmLabel="Stop the job" busy={busy} onConfirm={() => void act(false)} onCancel={cancel}>
              <p>Every allocation of {job.name} is told to stop (each gets the job's stop timeout). The job and its history stay; running it again starts a new version.</p>
            </Confirm>
          )}
          {pending?.kind === 'purge' && (
            <PurgeConfirm name={job.name} typed={pending.typed} busy={busy} onType={(typed) => setPending({ kind: 'purge', typed })} onConfirm={() => void act(true)} onCancel={cancel} />
          )}
          {job.paused !== null && (
            <p class="alert tone-warn" role="status">
              Placement paused: {job.paused}
            </p>
          )}
          {job.blocked !== null && (
            <p class="alert tone-warn" role="status" data-blocked>
              {job.blocked.unplaced} instance(s) cannot be placed: {job.blocked.summary}
            </p>
          )}
          <div class="jobs-grid">
            <Counts counts={job.instances} />
            <DeploymentCard deployment={job.deployment} now={now} />
            <SpecSummary spec={job.spec} />
          </div>
          <h2>Allocations</h2>
          <AllocTable allocs={job.allocations} now={now} />
        </>
      )}
    </Page>
  );
}

/** Purge forgets the job and its history: the operator types its name to arm the button. */
function PurgeConfirm(props: { name: string; typed: string; busy: boolean; onType: (typed: string) => void; onConfirm: () => void; onCancel: () => void }): JSX.Element {
  const armed = props.typed === props.name;
  const input = useRef<HTMLInputElement>(null);
  // The modal focuses its confirm button once mounted (after this component's effects): the
  // name box takes the focus just after, since typing the name comes first.
  useEffect(() => {
    const timer = setTimeout(() => input.current?.focus(), 0);
    return () => clearTimeout(timer);
  }, []);
  return (
    <Confirm
      title={`Purge ${props.name}?`}
      confirmLabel={armed ? 'Purge for good' : 'Type the name first'}
      danger
      busy={props.busy}
      onConfirm={() => {
        if (armed) props.onConfirm();
        else input.current?.focus();
      }}
      onCancel={props.onCancel}
    >
      <p>
        The job is stopped and <strong>forgotten with its whole history</strong>: its versions, allocations and rollouts. This cannot be undone.
      </p>
      <label class="jobs-confirm-type">
        <span>
          Type <code>{props.name}</code> to confirm:
        </span>
        <input
          ref={input}
          class="input"
          name="confirm-name"
          autoComplete="off"
          spellcheck={false}
          value={props.typed}
          onInput={(e) => props.onType(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && armed) props.onConfirm();
          }}
        />
      </label>
      {!armed && props.typed !== '' && <p class="hint">The name does not match yet.</p>}
    </Confirm>
  );
}

function Counts(props: { counts: InstanceCounts }): JSX.Element {
  const c = props.counts;
  const always = new Set(['desired', 'placed', 'running', 'healthy']);
  const rows: readonly [string, number, string][] = [
    ['desired', c.desired, ''],
    ['placed', c.placed, ''],
    ['current version', c.current, ''],
    ['pending', c.pending, 'warn'],
    ['running', c.running, ''],
    ['healthy', c.healthy, 'good'],
    ['unhealthy', c.unhealthy, 'bad'],
    ['stopping', c.stopping, ''],
    ['complete', c.complete, ''],
    ['failed', c.failed, 'bad'],
    ['lost', c.lost, 'bad'],
  ];
  return (
    <section class="card">
      <h2>Instances</h2>
      <dl class="jobs-counts">
        {rows
          .filter(([label, n]) => n > 0 || always.has(label))
          .map(([label, n, tone]) => (
            <div key={label} class={tone !== '' && n > 0 ? `jobs-tone-${tone}` : undefined} data-count={label}>
              <dt>{label}</dt>
              <dd>{n}</dd>
            </div>
          ))}
      </dl>
    </section>
  );
}

function DeploymentCard(props: { deployment: Deployment | null; now: number }): JSX.Element {
  const d = props.deployment;
  return (
    <section class="card">
      <h2>Deployment</h2>
      {d === null ? (
        <p class="hint">No rollout recorded.</p>
      ) : (
        <dl class="kv-list">
          <Fact label="Version">v{d.version}</Fact>
          <Fact label="Status">
            <DeploymentBadge d={d} />
          </Fact>
          <Fact label="Reason">{d.reason === '' ? '—' : d.reason}</Fact>
          <Fact label="Started">
            <span title={isoTime(d.startedAtMs)}>{ago(d.startedAtMs, props.now)}</span>
          </Fact>
          <Fact label="Updated">
            <span title={isoTime(d.updatedAtMs)}>{ago(d.updatedAtMs, props.now)}</span>
          </Fact>
        </dl>
      )}
    </section>
  );
}

function SpecSummary(props: { spec: JobSpecView }): JSX.Element {
  const s = props.spec;
  const command = commandLine(s.config);
  const ports = s.resources?.ports ?? [];
  const constraints = s.constraints ?? [];
  const spread = s.spread ?? [];
  const env = Object.keys(s.env ?? {}).sort();
  return (
    <section class="card jobs-spec">
      <h2>Spec</h2>
      <dl class="kv-list">
        <Fact label="Driver">{s.driver ?? '—'}</Fact>
        {command !== undefined && (
          <Fact label="Command">
            <code class="jobs-wrap">{command}</code>
          </Fact>
        )}
        <Fact label="Count">{s.type === 'system' ? 'one per eligible node' : (s.count ?? '—')}</Fact>
        <Fact label="Resources">
          {s.resources?.cpuMillis ?? '?'} millicores, {s.resources?.memoryMB ?? '?'} MB
          {ports.length > 0 && `; ports ${ports.map((p) => (p.static === undefined ? p.label : `${p.label}:${p.static}`)).join(', ')}`}
        </Fact>
        {s.service !== undefined && (
          <Fact label="Service">
            <a href={`#/services/${encodeURIComponent(s.service.name)}`}>{s.service.name}</a> on port {s.service.port}
            {s.service.checks.length > 0 && `; checks ${s.service.checks.map((c) => `${c.name} (${c.type})`).join(', ')}`}
            {s.service.tags.length > 0 && `; tags ${s.service.tags.join(', ')}`}
          </Fact>
        )}
        {constraints.length > 0 && (
          <Fact label="Constraints">
            <code class="jobs-wrap">{constraints.map((c) => `${c.attribute} ${c.operator}${c.value === undefined ? '' : ` ${c.value}`}`).join('; ')}</code>
          </Fact>
        )}
        {spread.length > 0 && <Fact label="Spread">{spread.map((x) => `${x.attribute} (weight ${x.weight})`).join(', ')}</Fact>}
        {s.update !== undefined && (
          <Fact label="Update">
            {s.update.maxParallel} at a time, healthy for {duration(s.update.minHealthyMs)} within {duration(s.update.healthyDeadlineMs)}
            {s.update.autoRevert ? ', auto-revert' : ''}
          </Fact>
        )}
        {s.restart !== undefined && (
          <Fact label="Restart">
            {s.restart.attempts} in {duration(s.restart.intervalMs)}, delay {duration(s.restart.delayMs)} ×{s.restart.backoff} up to {duration(s.restart.maxDelayMs)}
          </Fact>
        )}
        {s.stopTimeoutMs !== undefined && <Fact label="Stop timeout">{duration(s.stopTimeoutMs)}</Fact>}
        {env.length > 0 && (
          <Fact label="Env">
            <code class="jobs-wrap">{env.join(', ')}</code>
          </Fact>
        )}
      </dl>
    </section>
  );
}

function AllocTable(props: { allocs: readonly AllocSummary[]; now: number }): JSX.Element {
  const now = props.now;
  const columns: readonly Column<AllocSummary>[] = [
    {
      key: 'id',
      title: 'ID',
      value: (a) => a.id,
      render: (a) => (
        <a class="mono" href={allocHref(a.id)} title={a.id}>
          {shortId(a.id)}
        </a>
      ),
    },
    { key: 'index', title: 'Index', value: (a) => a.index, align: 'right' },
    { key: 'version', title: 'Version', value: (a) => a.jobVersion, render: (a) => `v${a.jobVersion}`, align: 'right', wide: true },
    { key: 'desired', title: 'Desired', value: (a) => a.desired, render: (a) => <span title={a.desiredReason}>{a.desired}</span>, wide: true },
    { key: 'client', title: 'Client', value: (a) => a.client, render: (a) => <Badge status={a.client} title={a.clientDetail} /> },
    { key: 'health', title: 'Health', value: (a) => a.health, render: (a) => <Badge status={a.health} /> },
    { key: 'node', title: 'Node', value: (a) => a.node, render: (a) => <span title={a.node}>{shortNodeId(a.node)}</span> },
    { key: 'restarts', title: 'Restarts', value: (a) => a.restarts, align: 'right' },
    { key: 'modified', title: 'Modified', value: (a) => a.modifiedAtMs, render: (a) => <span title={isoTime(a.modifiedAtMs)}>{ago(a.modifiedAtMs, now)}</span>, wide: true },
  ];
  return (
    <Table
      name="allocations"
      rows={props.allocs}
      columns={columns}
      rowKey={(a) => a.id}
      rowClass={(a) => (a.desired === 'stop' ? 'jobs-stopped' : undefined)}
      empty={<Empty title="No allocations">Nothing is placed yet, or the job stopped long ago (finished allocations are kept for a while only).</Empty>}
    />
  );
}

export function AllocPage(props: { id?: string }): JSX.Element {
  const id = props.id ?? '';
  const live = useLive<AllocView>(id === '' ? null : `/v1/allocs/${encodeURIComponent(id)}`);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const now = useNow(5000);
  const a = live.data;
  const cancel = useCallback(() => setConfirming(false), []);

  const restart = async (): Promise<void> => {
    setBusy(true);
    try {
      const r = await apiSend<{ alloc: string; node: string }>('POST', `/v1/allocs/${encodeURIComponent(a?.id ?? id)}/restart`);
      setOutcome({ ok: true, text: `Restarting ${shortId(r.alloc)} on ${r.node}.` });
      live.reload();
    } catch (e) {
      const why = e instanceof ApiError && e.status === 409 ? `its task is not running (${e.message})` : e instanceof Error ? e.message : String(e);
      setOutcome({ ok: false, text: `Could not restart: ${why}` });
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  const title = (
    <>
      <a href="#/jobs">
        Jobs
      </a>{' '}
      /{' '}
      {a === undefined ? (
        '…'
      ) : (
        <a href={jobHref(a.job)}>
          {a.job}
        </a>
      )}{' '}
      / {a === undefined ? shortId(id) : `${a.job}[${a.index}] ${shortId(a.id)}`}
    </>
  );
  const actions =
    a === undefined ? undefined : (
      <button
        type="button"
        class="button"
        data-action="restart"
        disabled={busy || a.client !== 'running'}
        title={a.client === 'running' ? 'stop and start its task in place' : 'only a running task can be restarted'}
        onClick={() => setConfirming(true)}
      >
        Restart
      </button>
    );

  return (
    <Page name="alloc" title={title} actions={actions}>
      {a === undefined ? (
        live.error === undefined ? (
          <Loading what={`allocation ${id}`} />
        ) : isNotFound(live.error) ? (
          <Empty title={`No allocation ${id}`}>
            Finished allocations are kept for a while only. <a href="#/jobs">All jobs</a>
          </Empty>
        ) : (
          <ErrorBox error={live.error} onRetry={live.reload} />
        )
      ) : (
        <>
          {live.error !== undefined && <StaleNote error={live.error} />}
          <OutcomeNote outcome={outcome} />
          {confirming && (
            <Confirm title={`Restart ${a.job}[${a.index}]?`} confirmLabel="Restart the task" busy={busy} onConfirm={() => void restart()} onCancel={cancel}>
              <p>Its task is stopped and started again on {a.node}, with the same allocation, ports and directory. This does not count against the job's restart policy.</p>
            </Confirm>
          )}
          <div class="jobs-grid">
            <section class="card">
              <h2>Placement</h2>
              <dl class="kv-list">
                <Fact label="ID">
                  <code class="jobs-wrap">{a.id}</code>
                </Fact>
                <Fact label="Job">
                  <a href={jobHref(a.job)}>{a.job}</a> version {a.jobVersion}, index {a.index}
                </Fact>
                <Fact label="Node">
                  {a.node}
                  {a.nodeAddress !== null && <span class="hint"> ({a.nodeAddress})</span>}
                </Fact>
                <Fact label="Ports">
                  {Object.keys(a.ports).length === 0 ? (
                    '—'
                  ) : (
                    <code>
                      {Object.entries(a.ports)
                        .map(([label, port]) => `${label}=${port}`)
                        .join(' ')}
                    </code>
                  )}
                </Fact>
                <Fact label="Resources">
                  {a.cpuMillis} millicores, {a.memoryMB} MB
                </Fact>
                <Fact label="Replaces">{a.replaces === null ? '—' : <a class="mono" href={allocHref(a.replaces)}>{shortId(a.replaces)}</a>}</Fact>
                <Fact label="Task">
                  <code title={a.taskSha256}>sha256 {a.taskSha256.slice(0, 16)}</code>
                </Fact>
              </dl>
            </section>
            <section class="card">
              <h2>Status</h2>
              <dl class="kv-list">
                <Fact label="Desired">
                  <span data-desired={a.desired}>{a.desired}</span>
                  {a.desiredReason !== '' && <span class="hint"> — {a.desiredReason}</span>}
                </Fact>
                <Fact label="Client">
                  <Badge status={a.client} />
                  {a.clientDetail !== '' && a.clientDetail !== a.client && <span class="hint"> {a.clientDetail}</span>}
                </Fact>
                <Fact label="Health">
                  <Badge status={a.health} />
                  {a.healthySinceMs !== null && (
                    <span class="hint" title={isoTime(a.healthySinceMs)}>
                      {' '}
                      since {ago(a.healthySinceMs, now)}
                    </span>
                  )}
                </Fact>
                <Fact label="Restarts">{a.restarts}</Fact>
                <Fact label="Reschedules">{a.reschedules}</Fact>
                <Fact label="Created">
                  <span title={isoTime(a.createdAtMs)}>{ago(a.createdAtMs, now)}</span>
                </Fact>
                <Fact label="Modified">
                  <span title={isoTime(a.modifiedAtMs)}>{ago(a.modifiedAtMs, now)}</span>
                </Fact>
              </dl>
            </section>
            <section class="card">
              <h2>Checks</h2>
              {a.checks.length === 0 ? (
                <p class="hint">No checks: healthy once it runs.</p>
              ) : (
                <ul class="jobs-checks" data-table="checks">
                  {a.checks.map((c) => (
                    <li key={c.name} data-row={c.name}>
                      <Badge status={c.status}>{c.name}</Badge>
                      <span class="jobs-check-output">{c.output === '' ? <span class="hint">no output</span> : c.output}</span>
                    </li>
                  ))}
                </ul>
              )}
            </section>
          </div>
          <LogTail allocId={a.id} running={a.client === 'running'} />
        </>
      )}
    </Page>
  );
}

function Fact(props: { label: string; children?: ComponentChildren }): JSX.Element {
  return (
    <>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </>
  );
}

function DeploymentBadge(props: { d: Deployment }): JSX.Element {
  const tone = props.d.status === 'successful' ? 'good' : props.d.status === 'failed' ? 'bad' : 'warn';
  return (
    <Badge status={props.d.status} tone={tone} title={props.d.reason}>
      v{props.d.version} {props.d.status}
    </Badge>
  );
}

function StaleNote(props: { error: Error }): JSX.Element {
  return (
    <p class="note" role="status">
      Showing the last answer; the latest reload failed: {props.error.message}
    </p>
  );
}

function OutcomeNote(props: { outcome: Outcome }): JSX.Element | null {
  if (props.outcome === undefined) return null;
  return (
    <p class={props.outcome.ok ? 'alert tone-good' : 'error-box'} role={props.outcome.ok ? 'status' : 'alert'} data-outcome={props.outcome.ok ? 'ok' : 'failed'}>
      {props.outcome.text}
    </p>
  );
}

/** `config.command` and `config.args` of the process driver, as one shell-like line. */
function commandLine(config: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const command = config?.['command'];
  if (typeof command !== 'string') return undefined;
  const args = Array.isArray(config?.['args']) ? (config['args'] as unknown[]).map((x) => (typeof x === 'string' && /^[\w./:=@,+-]+$/.test(x) ? x : JSON.stringify(x))) : [];
  return [command, ...args].join(' ');
}

function isNotFound(e: Error): boolean {
  return e instanceof ApiError && e.status === 404;
}
