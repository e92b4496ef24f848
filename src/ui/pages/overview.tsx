// Overview (#/): the cluster at a glance. State, epoch, leader and term, voters and learners
// (GET /v1/status of this agent), member counts by gossip status (GET /v1/members), the alerts
// an operator must act on, and the recent decisions of the autopilot and the scheduler with
// their reasons (from the event log the shell streams).
//
// Alerts: no quorum and the other not-active states; dead or suspect voters and members;
// flapping nodes (counted by this dashboard, see flaps.ts: the API keeps no gossip history);
// services with critical instances (GET /v1/services).
import type { ComponentChildren, JSX } from 'preact';
import { useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { Badge, type Tone } from '../components/badge.tsx';
import { Empty } from '../components/empty.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { Loading } from '../components/loading.tsx';
import { Page } from '../components/page.tsx';
import { FLAP_WINDOW_MS, type FlapTracker } from '../flaps.ts';
import { formatAgo, formatDuration, formatTime } from '../format.ts';
import { FlapContext, useLive, useNow, useRecentEvents } from '../hooks.ts';
import type { ClusterEvent } from '../live.ts';
import type { Member, MemberStatus, ServiceSummary, Status } from '../types.ts';

/** Event types that are decisions the cluster took by itself (or an operator's recovery). */
const DECISION_PREFIXES = ['autopilot.', 'sched.', 'deployment.', 'node.', 'auto.recover', 'operator.recover', 'job.'] as const;
const MAX_DECISIONS = 15;

export function isDecision(e: ClusterEvent): boolean {
  return DECISION_PREFIXES.some((p) => e.type.startsWith(p));
}

/** The reason an event gives, or a short summary of its details. */
export function eventReason(e: ClusterEvent): string {
  const d = e.detail;
  for (const key of ['reason', 'message', 'why'] as const) {
    const v = d[key];
    if (typeof v === 'string' && v !== '') return v;
  }
  return Object.entries(d)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

export interface Alert {
  readonly key: string;
  readonly tone: Tone;
  readonly title: string;
  readonly body: JSX.Element | string;
}

const STATE_ALERTS: Readonly<Record<Exclude<Status['state'], 'active'>, { tone: Tone; title: string; body: string }>> = {
  'no-quorum': {
    tone: 'bad',
    title: 'No quorum',
    body: 'A majority of the voters cannot be reached: writes are refused until they come back. If they are gone for good, run `sappers operator recover` on a survivor (see the operator guide).',
  },
  electing: { tone: 'warn', title: 'Electing a leader', body: 'There is no leader right now; an election should end this within seconds.' },
  joining: { tone: 'warn', title: 'Joining', body: 'This agent is not yet part of the configuration: it waits for the leader to add it.' },
  'waiting-for-nodes': { tone: 'warn', title: 'Waiting for nodes', body: 'Fewer nodes are alive than cluster.minNodes: workloads are not placed (or are paused) until enough nodes are up.' },
};

export function alertsFor(status: Status | undefined, members: readonly Member[] | undefined, services: readonly ServiceSummary[] | undefined, flapping: ReturnType<FlapTracker['flapping']>): Alert[] {
  const alerts: Alert[] = [];
  if (status !== undefined && status.state !== 'active') {
    const a = STATE_ALERTS[status.state];
    alerts.push({ key: `state-${status.state}`, tone: a.tone, title: a.title, body: a.body });
  }
  const byId = new Map((members ?? []).map((m) => [m.id, m]));
  const voters = new Set(status?.voters ?? []);
  for (const f of flapping) {
    alerts.push({ key: `flap-${f.id}`, tone: 'warn', title: `${f.id} is flapping`, body: `${f.changes} gossip status changes in the last ${FLAP_WINDOW_MS / 60_000} minutes (now ${f.status}), as this dashboard saw them: check its network and load.` });
  }
  for (const m of members ?? []) {
    if (m.status !== 'dead' && m.status !== 'suspect') continue;
    const isVoter = voters.has(m.id);
    const what = isVoter ? 'Voter' : m.role === 'learner' ? 'Learner' : 'Node';
    alerts.push({
      key: `member-${m.id}`,
      tone: m.status === 'dead' || isVoter ? 'bad' : 'warn',
      title: `${what} ${m.id} is ${m.status}`,
      body:
        m.status === 'dead'
          ? isVoter
            ? 'Gossip calls it dead; the autopilot replaces a dead voter after its grace period.'
            : 'Gossip calls it dead; its allocations are rescheduled after the lost grace period.'
          : 'It missed its probes; gossip will call it dead unless it answers soon.',
    });
  }
  for (const id of status?.voters ?? []) {
    if (!byId.has(id) && members !== undefined) alerts.push({ key: `voter-unknown-${id}`, tone: 'warn', title: `Voter ${id} is unknown to gossip`, body: 'The Raft configuration names it, but this agent has not heard of it by gossip.' });
  }
  for (const s of services ?? []) {
    if (s.critical === 0) continue;
    alerts.push({
      key: `service-${s.name}`,
      tone: 'bad',
      title: `Service ${s.name}: ${s.critical} critical instance${s.critical === 1 ? '' : 's'}`,
      body: (
        <span>
          {s.passing} of {s.instances} passing. <a href={`#/services/${encodeURIComponent(s.name)}`}>See its instances</a>.
        </span>
      ),
    });
  }
  return alerts;
}

export function OverviewPage(): JSX.Element {
  const status = useLive<Status>('/v1/status');
  const members = useLive<Member[]>('/v1/members');
  const services = useLive<ServiceSummary[]>('/v1/services');
  const events = useRecentEvents();
  const now = useNow(1000);
  const flapping = useFlapping(now);

  const counts = useMemo(() => {
    const c: Record<MemberStatus, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of members.data ?? []) c[m.status]++;
    return c;
  }, [members.data]);
  const decisions = useMemo(() => events.filter(isDecision).slice(-MAX_DECISIONS).reverse(), [events]);
  const alerts = alertsFor(status.data, members.data, services.data, flapping);
  const s = status.data;

  return (
    <Page name="overview" title="Overview">
      {status.error === undefined ? null : <ErrorBox error={status.error} onRetry={status.reload} />}
      {s === undefined ? (
        status.loading ? <Loading what="the cluster's status" /> : null
      ) : (
        <>
          <section class="alerts" aria-label="Alerts" data-alerts>
            {alerts.length === 0 ? (
              <div class="alert tone-good" data-alert="none">
                <strong>All clear</strong>
                No alert: the cluster has a leader, every member is alive and no service is critical.
              </div>
            ) : (
              alerts.map((a) => (
                <div key={a.key} class={`alert tone-${a.tone}`} role={a.tone === 'bad' ? 'alert' : undefined} data-alert={a.key}>
                  <strong>{a.title}</strong>
                  {a.body}
                </div>
              ))
            )}
          </section>

          <div class="cards">
            <Stat label="State">
              <Badge status={s.state} />
            </Stat>
            <Stat label="Leader" sub={`term ${s.term} · epoch ${s.epoch}`}>
              {s.leader === null ? <span class="note">none</span> : <span class="mono" data-leader>{s.leader}</span>}
            </Stat>
            <Stat label={`Voters (${s.voters.length})`} sub={s.learners.length === 0 ? 'no learners' : `learners (${s.learners.length}): ${s.learners.join(', ')}`}>
              <span class="mono stat-list">{s.voters.join(', ')}</span>
            </Stat>
            <Stat label="Members" sub={members.data === undefined ? undefined : `${members.data.length} known by gossip`}>
              {members.data === undefined ? (
                members.error === undefined ? '…' : <span class="note">unavailable</span>
              ) : (
                <span class="tags">
                  <Badge status="alive">{counts.alive} alive</Badge>
                  <Badge status="suspect">{counts.suspect} suspect</Badge>
                  <Badge status="dead">{counts.dead} dead</Badge>
                  {counts.left === 0 ? null : <Badge status="left">{counts.left} left</Badge>}
                </span>
              )}
            </Stat>
            <Stat label="This agent" sub={`version ${s.version} · up ${formatDuration(s.uptimeSeconds)} · ${s.security.mode}`}>
              <span class="mono">{s.nodeId}</span>
            </Stat>
            <Stat label="Raft log" sub="committed / applied here">
              {s.commitIndex} / {s.appliedIndex}
            </Stat>
          </div>
          {members.error === undefined ? null : <ErrorBox error={members.error} onRetry={members.reload} title="Could not read the members" />}
          {services.error === undefined ? null : <ErrorBox error={services.error} onRetry={services.reload} title="Could not read the services (critical instances are not checked)" />}

          <h2>Recent decisions</h2>
          <p class="note">
            What the autopilot, the scheduler and operators did, newest first, with their reasons (from the event log; <a href="#/events">all events</a>).
          </p>
          {decisions.length === 0 ? (
            <Empty title="No decisions yet">Autopilot voter changes, placements and stops, and nodes joining or leaving show here as they happen.</Empty>
          ) : (
            <ul class="decisions card" data-decisions>
              {decisions.map((e) => (
                <li key={e.seq} data-event={e.seq}>
                  <span class="decision-when" title={formatTime(e.atMs)}>
                    {formatAgo(e.atMs, now)}
                  </span>
                  <span class="decision-what">
                    <Badge status={e.type} tone={decisionTone(e.type)} /> <span class="mono">{e.subject}</span>
                  </span>
                  <span class="decision-why">{eventReason(e)}</span>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Page>
  );
}

function decisionTone(type: string): Tone {
  if (type === 'sched.blocked' || type === 'sched.paused' || type.endsWith('recover') || type === 'node.remove' || type === 'autopilot.remove') return 'warn';
  if (type.startsWith('autopilot.')) return 'info';
  return 'neutral';
}

function Stat(props: { readonly label: string; readonly sub?: string | undefined; readonly children: ComponentChildren }): JSX.Element {
  return (
    <div class="card stat">
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.children}</div>
      {props.sub === undefined ? null : <div class="stat-sub">{props.sub}</div>}
    </div>
  );
}

/** Flapping nodes from the shell's tracker, re-read when it sees a change and as time passes. */
function useFlapping(nowMs: number): ReturnType<FlapTracker['flapping']> {
  const tracker = useContext(FlapContext);
  const [, setTick] = useState(0);
  useEffect(() => (tracker === undefined ? undefined : tracker.onChange(() => setTick((n) => n + 1))), [tracker]);
  return tracker?.flapping(nowMs) ?? [];
}
