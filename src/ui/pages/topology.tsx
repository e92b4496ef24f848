// Topology (#/topology): a picture of the nodes and their roles. The leader in the middle, the
// other voters on a ring around it (Raft replicates from the leader to each, drawn as lines),
// learners and nodes outside the configuration on an outer ring. A small cluster (a leader and
// one or two voters, nothing else) is drawn as one ring instead, the leader on top: a triangle
// for three nodes rather than a straight line. Dead nodes are drawn red with
// a cross, suspect ones amber, departed (left) ones faded and dashed. Roles come from this
// agent's Raft configuration (GET /v1/status voters/learners), statuses from gossip
// (GET /v1/members); both streamed by the agent whenever they change (live-views.ts).
import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import { Empty } from '../components/empty.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { Loading } from '../components/loading.tsx';
import { Page } from '../components/page.tsx';
import { shortNodeId } from '../format.ts';
import { useLive } from '../hooks.ts';
import type { Member, MemberStatus, Status } from '../types.ts';

export type TopoRole = 'leader' | 'voter' | 'learner' | 'none';

export interface TopoNode {
  readonly id: string;
  readonly role: TopoRole;
  /** 'unknown': in the Raft configuration but not (yet) known to gossip here. */
  readonly status: MemberStatus | 'unknown';
  readonly x: number;
  readonly y: number;
  /** Labels above the node rather than under it (the top of a triangle, whose links leave downwards). */
  readonly labelAbove?: boolean;
}

export interface TopoLayout {
  readonly nodes: readonly TopoNode[];
  readonly width: number;
  readonly height: number;
  readonly innerRadius: number;
  readonly outerRadius: number;
}

const NODE_RADIUS = 24;
const MARGIN = 70;
const MIN_HALF = 150;

/**
 * Places the nodes: leader at the centre (or, with no leader, the voters share the inner ring),
 * voters on the inner ring, everyone else on the outer one, each ring sorted by ID so a node
 * keeps its place between reloads. Pure, for tests.
 */
export function layoutTopology(status: Pick<Status, 'leader' | 'voters' | 'learners'>, members: readonly Pick<Member, 'id' | 'status'>[]): TopoLayout {
  const statusOf = new Map(members.map((m) => [m.id, m.status]));
  const voters = new Set(status.voters);
  const learners = new Set(status.learners);
  const ids = new Set([...members.map((m) => m.id), ...status.voters, ...status.learners]);
  const leader = status.leader !== null && ids.has(status.leader) ? status.leader : undefined;
  const inner = [...ids].filter((id) => voters.has(id) && id !== leader).sort();
  const outer = [...ids].filter((id) => !voters.has(id) && id !== leader).sort((a, b) => Number(learners.has(b)) - Number(learners.has(a)) || a.localeCompare(b));

  // Rings wide enough that neighbours (with their labels) do not touch.
  const spacing = NODE_RADIUS * 2 + 70;
  const innerRadius = inner.length === 0 ? 0 : Math.max(leader === undefined && inner.length === 1 ? 0 : 120, (inner.length * spacing) / (2 * Math.PI));
  const outerRadius = outer.length === 0 ? innerRadius : Math.max(innerRadius + 120, (outer.length * spacing) / (2 * Math.PI), 120);
  const radius = Math.max(innerRadius, outerRadius);
  // At least room for a node and its two label lines, so one node is not drawn huge.
  const half = Math.max(radius + MARGIN, MIN_HALF);

  const place = (list: readonly string[], r: number, offset: number): TopoNode[] =>
    list.map((id, i) => {
      const angle = -Math.PI / 2 + offset + (2 * Math.PI * i) / list.length;
      return { id, role: roleOf(id), status: statusOf.get(id) ?? 'unknown', x: r * Math.cos(angle), y: r * Math.sin(angle) };
    });
  function roleOf(id: string): TopoRole {
    if (id === leader) return 'leader';
    if (voters.has(id)) return 'voter';
    if (learners.has(id)) return 'learner';
    return 'none';
  }
  if (leader !== undefined && outer.length === 0 && inner.length >= 1 && inner.length <= 2) {
    // Two nodes side by side (leader on the left), three as a triangle with the leader on top;
    // the ring just wide enough for the labels to clear each other.
    const ring = [leader, ...inner];
    const r = ring.length === 2 ? spacing / 2 + 10 : spacing / Math.sqrt(3) + 20;
    const offset = ring.length === 2 ? -Math.PI / 2 : 0;
    const compactHalf = Math.max(r + MARGIN, MIN_HALF);
    const nodes = place(ring, r, offset).map((n) => (ring.length === 3 && n.role === 'leader' ? { ...n, labelAbove: true } : n));
    return { nodes, width: 2 * compactHalf, height: 2 * compactHalf + 20, innerRadius: r, outerRadius: r };
  }

  const nodes: TopoNode[] = [];
  if (leader !== undefined) nodes.push({ id: leader, role: 'leader', status: statusOf.get(leader) ?? 'unknown', x: 0, y: 0 });
  // An even ring turned by half a step: no voter straight below the leader, where its labels are.
  nodes.push(...place(inner, innerRadius, inner.length % 2 === 0 && inner.length > 0 ? Math.PI / inner.length : 0));
  // The outer ring turned by half a step, so its nodes sit between the inner ones.
  nodes.push(...place(outer, outerRadius, outer.length === 0 ? 0 : Math.PI / Math.max(outer.length, 1)));
  return { nodes, width: 2 * half, height: 2 * half + 20, innerRadius, outerRadius };
}

const ROLE_MARK: Readonly<Record<TopoRole, string>> = { leader: 'L', voter: 'V', learner: 'l', none: '' };

export function TopologyPage(): JSX.Element {
  const status = useLive<Status>('/v1/status');
  const members = useLive<Member[]>('/v1/members');
  const layout = useMemo(() => (status.data === undefined || members.data === undefined ? undefined : layoutTopology(status.data, members.data)), [status.data, members.data]);
  const error = status.error ?? members.error;

  return (
    <Page name="topology" title="Topology">
      {error === undefined ? null : <ErrorBox error={error} onRetry={() => (status.reload(), members.reload())} title={layout === undefined ? undefined : 'Could not refresh (showing the last answer)'} />}
      {layout === undefined ? (
        status.loading || members.loading ? <Loading what="the topology" /> : null
      ) : layout.nodes.length === 0 ? (
        <Empty title="No nodes">This agent knows no nodes yet.</Empty>
      ) : (
        <>
          <figure class="topology-figure">
            <TopologySvg layout={layout} />
          </figure>
          <Legend />
          <p class="note">
            Roles from this agent's Raft configuration, statuses from gossip; updated as they change. Lines: the leader replicates its log to each voter (solid) and learner (dashed).
          </p>
        </>
      )}
    </Page>
  );
}

function TopologySvg(props: { readonly layout: TopoLayout }): JSX.Element {
  const { layout } = props;
  const leader = layout.nodes.find((n) => n.role === 'leader');
  const half = layout.width / 2;
  return (
    <svg viewBox={`${-half} ${-half} ${layout.width} ${layout.height}`} width={layout.width} height={layout.height} role="img" aria-label={`Cluster topology: ${layout.nodes.length} nodes`} data-topology>
      {layout.innerRadius > 0 ? <circle class="topo-ring" cx={0} cy={0} r={layout.innerRadius} /> : null}
      {layout.outerRadius > layout.innerRadius ? <circle class="topo-ring" cx={0} cy={0} r={layout.outerRadius} /> : null}
      {leader === undefined
        ? null
        : layout.nodes
            .filter((n) => n.role === 'voter' || n.role === 'learner')
            .map((n) => <line key={`link-${n.id}`} class={n.status === 'dead' || n.status === 'left' ? 'topo-link link-down' : 'topo-link'} x1={leader.x} y1={leader.y} x2={n.x} y2={n.y} stroke-dasharray={n.role === 'learner' ? '6 5' : undefined} />)}
      {layout.nodes.map((n) => (
        <g key={n.id} class={`topo-node role-${n.role} status-${n.status}`} transform={`translate(${n.x.toFixed(1)} ${n.y.toFixed(1)})`} data-node={n.id} data-status={n.status} data-role={n.role}>
          <title>{`${n.id}: ${n.role === 'none' ? 'not in the Raft configuration' : n.role}, ${n.status}`}</title>
          <a href="#/members">
            <circle r={NODE_RADIUS} />
            {n.status === 'dead' ? (
              <path d="M-10 -10 L10 10 M10 -10 L-10 10" stroke="var(--bad)" stroke-width={4} stroke-linecap="round" />
            ) : (
              <text class="topo-mark" y={5}>
                {ROLE_MARK[n.role]}
              </text>
            )}
            <text y={n.labelAbove === true ? -NODE_RADIUS - 22 : NODE_RADIUS + 17}>{shortNodeId(n.id)}</text>
            <text class="topo-role" y={n.labelAbove === true ? -NODE_RADIUS - 8 : NODE_RADIUS + 32}>
              {n.role === 'none' ? n.status : `${n.role} · ${n.status}`}
            </text>
          </a>
        </g>
      ))}
    </svg>
  );
}

function Legend(): JSX.Element {
  const item = (cls: string, label: string, mark = ''): JSX.Element => (
    <span>
      <svg width="22" height="22" viewBox="-12 -12 24 24" aria-hidden="true">
        <g class={`topo-node ${cls}`}>
          <circle r={9} />
          {mark === '' ? null : (
            <text class="topo-mark" y={4} style={{ fontSize: '10px' }}>
              {mark}
            </text>
          )}
        </g>
      </svg>{' '}
      {label}
    </span>
  );
  return (
    <div class="legend" aria-label="Legend">
      {item('role-leader status-alive', 'leader', 'L')}
      {item('role-voter status-alive', 'voter', 'V')}
      {item('role-learner status-alive', 'learner', 'l')}
      {item('role-none status-alive', 'not a Raft member')}
      {item('role-none status-suspect', 'suspect')}
      {item('role-none status-dead', 'dead')}
      {item('role-none status-left', 'left')}
    </div>
  );
}
