// Members (#/members): every node gossip knows, as this agent sees it (GET /v1/members,
// streamed by the agent on every change: gossip changes have no event). Status, Raft role, tags, free resources,
// version and uptime, sortable and filterable.
//
// Free CPU is estimated from the 1-minute load average against the core count (cores - load,
// floored at 0), as the autopilot ranks nodes. The API reports free disk but not the disk's
// size, so the disk bar compares members with each other (full = the most free disk of any
// member), it is not a share of one disk. Uptime is now minus the member's startedAt; for a
// dead or departed member it is not known, and the cell says since when it has been so.
import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import { Badge } from '../components/badge.tsx';
import { Bar } from '../components/bar.tsx';
import { Empty } from '../components/empty.tsx';
import { ErrorBox } from '../components/error-box.tsx';
import { Loading } from '../components/loading.tsx';
import { Page } from '../components/page.tsx';
import { Table, type Column } from '../components/table.tsx';
import { formatAgo, formatBytes, formatDuration, formatTime, parseIsoMs, shortNodeId } from '../format.ts';
import { useLive, useNow } from '../hooks.ts';
import type { Member, MemberRole, MemberStatus } from '../types.ts';

const ROLE_ORDER: Readonly<Record<MemberRole, number>> = { leader: 0, voter: 1, learner: 2, none: 3 };
const STATUS_ORDER: Readonly<Record<MemberStatus, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 };

/** Free cores: cores minus the 1-minute load, never below 0. */
export function freeCores(m: Member): number {
  return Math.max(0, m.resources.cpuCores - m.resources.load1);
}

export function freeCpuPercent(m: Member): number {
  return m.resources.cpuCores <= 0 ? 0 : (100 * freeCores(m)) / m.resources.cpuCores;
}

export function freeMemoryPercent(m: Member): number {
  return m.resources.memoryTotalBytes <= 0 ? 0 : (100 * m.resources.memoryFreeBytes) / m.resources.memoryTotalBytes;
}

function isUp(m: Member): boolean {
  return m.status === 'alive' || m.status === 'suspect';
}

function tagText(m: Member): string {
  return Object.entries(m.tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function MembersPage(): JSX.Element {
  const live = useLive<Member[]>('/v1/members');
  const now = useNow(1000);
  const members = live.data;
  const maxDisk = useMemo(() => Math.max(1, ...(members ?? []).map((m) => m.resources.diskFreeBytes)), [members]);

  const columns = useMemo((): Column<Member>[] => {
    const upSeconds = (m: Member): number | undefined => {
      const started = parseIsoMs(m.startedAt);
      return isUp(m) && started !== undefined ? Math.max(0, (now - started) / 1000) : undefined;
    };
    return [
      { key: 'id', title: 'Node', value: (m) => m.id, render: (m) => <span class="mono node-id" title={`${m.id}: gossip ${m.addr}, rpc ${m.rpcAddr}, http ${m.httpAddr}`}>{shortNodeId(m.id)}</span> },
      {
        key: 'status',
        title: 'Status',
        value: (m) => `${STATUS_ORDER[m.status]} ${m.status}`,
        render: (m) => {
          const since = parseIsoMs(m.statusSince);
          return <Badge status={m.status} title={since === undefined ? undefined : `${m.status} since ${formatTime(since)}`} />;
        },
      },
      { key: 'role', title: 'Role', value: (m) => `${ROLE_ORDER[m.role]} ${m.role}`, render: (m) => (m.role === 'none' ? <span class="note">none</span> : <Badge status={m.role} tone={m.role === 'learner' ? 'neutral' : 'info'} />) },
      { key: 'addr', title: 'Address', value: (m) => m.httpAddr, render: (m) => <span class="mono">{m.httpAddr}</span>, wide: true },
      {
        key: 'tags',
        title: 'Tags',
        value: (m) => tagText(m),
        render: (m) => (
          <span class="tags">
            {Object.entries(m.tags).map(([k, v]) => (
              <span class="tag" key={k}>
                {k}={v}
              </span>
            ))}
          </span>
        ),
      },
      {
        key: 'cpu',
        title: 'CPU free',
        value: (m) => freeCpuPercent(m),
        render: (m) => <Bar percent={freeCpuPercent(m)} freeIsGood label={`${freeCores(m).toFixed(1)} / ${m.resources.cpuCores} cores`} title={`load ${m.resources.load1.toFixed(2)} on ${m.resources.cpuCores} cores`} />,
      },
      {
        key: 'memory',
        title: 'Memory free',
        value: (m) => freeMemoryPercent(m),
        render: (m) => <Bar percent={freeMemoryPercent(m)} freeIsGood label={`${formatBytes(m.resources.memoryFreeBytes)} / ${formatBytes(m.resources.memoryTotalBytes)}`} />,
      },
      {
        key: 'disk',
        title: 'Disk free',
        value: (m) => m.resources.diskFreeBytes,
        render: (m) => <Bar percent={(100 * m.resources.diskFreeBytes) / maxDisk} tone="info" label={formatBytes(m.resources.diskFreeBytes)} title={`${formatBytes(m.resources.diskFreeBytes)} free in the data directory; the bar compares members (the API does not report the disk's size)`} />,
      },
      { key: 'version', title: 'Version', value: (m) => m.version, wide: true },
      {
        key: 'uptime',
        title: 'Uptime',
        value: (m) => upSeconds(m),
        render: (m) => {
          const up = upSeconds(m);
          if (up !== undefined) return <span title={`started ${m.startedAt}`}>{formatDuration(up)}</span>;
          const since = parseIsoMs(m.statusSince);
          return <span class="note">{since === undefined ? '—' : `${m.status} ${formatAgo(since, now)}`}</span>;
        },
        align: 'right',
      },
    ];
  }, [now, maxDisk]);

  const counts = useMemo(() => {
    const c: Record<MemberStatus, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of members ?? []) c[m.status]++;
    return c;
  }, [members]);

  return (
    <Page
      name="members"
      title="Members"
      actions={
        members === undefined ? null : (
          <span class="tags">
            {(['alive', 'suspect', 'dead', 'left'] as const).map((s) => (
              <Badge key={s} status={s}>
                {counts[s]} {s}
              </Badge>
            ))}
          </span>
        )
      }
    >
      {live.error === undefined ? null : <ErrorBox error={live.error} onRetry={live.reload} title={members === undefined ? undefined : 'Could not refresh the members (showing the last answer)'} />}
      {members === undefined ? (
        live.loading ? <Loading what="members" /> : null
      ) : (
        <Table
          name="members"
          rows={members}
          columns={columns}
          rowKey={(m) => m.id}
          initialSort={{ key: 'id', descending: false }}
          filter
          filterPlaceholder="Filter by node, role, tag…"
          noun={['member', 'members']}
          rowClass={(m) => (isUp(m) ? undefined : 'row-gone')}
          empty={<Empty title="No members">This agent knows no nodes yet, not even itself: it may still be starting.</Empty>}
        />
      )}
      <p class="note">
        As gossip on this agent sees the cluster, updated as it changes. CPU free = cores minus the 1-minute load. Disk bars compare the members' free space (the API does not report disk sizes). Uptime is not known for dead or departed nodes.
      </p>
    </Page>
  );
}
