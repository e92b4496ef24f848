// Services pages: #/services (the catalog: each service with its instances by check status) and
// #/services/:name (its instances: allocation, node, address and port, status, one badge per
// check with its output). Data: GET /v1/services and /v1/services/NAME[?passing]
// (src/api/services.ts); an instance's status is its worst check (no checks: passing while its
// allocation is healthy). "Passing only" asks the agent for ?passing, what DNS answers; the
// toggle lives in the address (#/services/web?passing) so a reload keeps it.

import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, Page, Table, type Column } from '../components/index.ts';
import { shortNodeId } from '../format.ts';
import { useLive } from '../hooks.ts';
import { useRoute } from '../router.ts';
import type { ServiceSummary } from '../types.ts';
import './services.css';

type CheckStatus = 'passing' | 'warning' | 'critical';

interface ServiceCheck {
  readonly name: string;
  readonly status: CheckStatus;
  readonly output: string;
}

/** GET /v1/services/NAME instances (ServiceInstanceSchema). */
interface ServiceInstance {
  readonly alloc: string;
  readonly job: string;
  readonly node: string;
  readonly address: string | null;
  readonly port: number | null;
  readonly status: CheckStatus;
  readonly checks: readonly ServiceCheck[];
  readonly tags: readonly string[];
}

interface ServiceView {
  readonly name: string;
  readonly tags: readonly string[];
  readonly instances: readonly ServiceInstance[];
}

const SERVICE_COLUMNS: readonly Column<ServiceSummary>[] = [
  { key: 'name', title: 'Service', value: (s) => s.name, render: (s) => <a href={serviceHref(s.name)}>{s.name}</a> },
  { key: 'instances', title: 'Instances', value: (s) => s.instances, align: 'right' },
  {
    key: 'health',
    title: 'Checks',
    // Worst first when sorted: critical counts most, then warning.
    value: (s) => -(s.critical * 1_000_000 + s.warning * 1000) + s.passing,
    render: (s) => <StatusCounts s={s} />,
  },
  {
    key: 'jobs',
    title: 'Jobs',
    value: (s) => s.jobs.join(' '),
    render: (s) => (
      <span class="services-list">
        {s.jobs.map((j) => (
          <a key={j} href={`#/jobs/${encodeURIComponent(j)}`}>
            {j}
          </a>
        ))}
      </span>
    ),
    wide: true,
  },
  { key: 'tags', title: 'Tags', value: (s) => s.tags.join(' '), render: (s) => <Tags tags={s.tags} />, wide: true },
];

export function ServicesPage(): JSX.Element {
  const live = useLive<ServiceSummary[]>('/v1/services');
  const services = live.data;
  return (
    <Page name="services" title="Services">
      {services === undefined ? (
        live.error !== undefined ? <ErrorBox error={live.error} onRetry={live.reload} /> : <Loading what="services" />
      ) : (
        <>
          {live.error !== undefined && <StaleNote error={live.error} />}
          <Table
            name="services"
            rows={services}
            columns={SERVICE_COLUMNS}
            rowKey={(s) => s.name}
            initialSort={{ key: 'name', descending: false }}
            filter
            filterPlaceholder="Filter services…"
            noun={['service', 'services']}
            empty={
              <Empty title="No services">
                A job with a <code>service:</code> section registers one; its running instances show here with their checks.
              </Empty>
            }
          />
        </>
      )}
    </Page>
  );
}

export function ServicePage(props: { name?: string }): JSX.Element {
  const name = props.name ?? '';
  const route = useRoute();
  const passingOnly = route.query.has('passing');
  const live = useLive<ServiceView>(name === '' ? null : `/v1/services/${encodeURIComponent(name)}${passingOnly ? '?passing' : ''}`);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const service = live.data;

  const setPassingOnly = (on: boolean): void => {
    location.hash = `${serviceHref(name)}${on ? '?passing' : ''}`;
  };
  const toggleOpen = (alloc: string): void =>
    setOpen((s) => {
      const next = new Set(s);
      if (!next.delete(alloc)) next.add(alloc);
      return next;
    });

  const columns: readonly Column<ServiceInstance>[] = [
    {
      key: 'alloc',
      title: 'Allocation',
      value: (i) => i.alloc,
      render: (i) => (
        <a class="mono" href={`#/allocs/${encodeURIComponent(i.alloc)}`} title={i.alloc}>
          {i.alloc.slice(0, 8)}
        </a>
      ),
    },
    { key: 'status', title: 'Status', value: (i) => statusRank(i.status), render: (i) => <Badge status={i.status} /> },
    {
      key: 'checks',
      title: 'Checks',
      value: (i) => i.checks.map((c) => `${c.name} ${c.status} ${c.output}`).join(' '),
      render: (i) => <Checks instance={i} open={open.has(i.alloc)} onToggle={() => toggleOpen(i.alloc)} />,
      sortable: false,
    },
    { key: 'address', title: 'Address', value: (i) => endpoint(i), render: (i) => <code>{endpoint(i)}</code> },
    { key: 'node', title: 'Node', value: (i) => i.node, render: (i) => <span title={i.node}>{shortNodeId(i.node)}</span> },
    { key: 'job', title: 'Job', value: (i) => i.job, render: (i) => <a href={`#/jobs/${encodeURIComponent(i.job)}`}>{i.job}</a>, wide: true },
    { key: 'tags', title: 'Tags', value: (i) => i.tags.join(' '), render: (i) => <Tags tags={i.tags} />, wide: true },
  ];

  const title = (
    <>
      <a href="#/services">
        Services
      </a>{' '}
      / {name}
    </>
  );
  const toggle = (
    <label class="services-toggle">
      <input type="checkbox" name="passing" checked={passingOnly} onChange={(e) => setPassingOnly(e.currentTarget.checked)} /> Passing only
    </label>
  );

  return (
    <Page name="service" title={title}>
      {service === undefined ? (
        live.error === undefined ? (
          <Loading what={`service ${name}`} />
        ) : live.error instanceof ApiError && live.error.status === 404 ? (
          <Empty title={`No service named ${name}`}>
            No job declares it now. <a href="#/services">All services</a>
          </Empty>
        ) : (
          <ErrorBox error={live.error} onRetry={live.reload} />
        )
      ) : (
        <>
          {live.error !== undefined && <StaleNote error={live.error} />}
          {service.tags.length > 0 && (
            <p class="services-tags">
              Tags: <Tags tags={service.tags} />
            </p>
          )}
          <Table
            name="instances"
            rows={service.instances}
            columns={columns}
            rowKey={(i) => i.alloc}
            initialSort={{ key: 'status', descending: false }}
            filter
            filterPlaceholder="Filter instances…"
            noun={['instance', 'instances']}
            toolbar={toggle}
            empty={
              <Empty title={passingOnly ? 'No passing instance' : 'No instances'}>
                {passingOnly ? 'No instance passes every check, so DNS answers nothing for this service now. Untick "Passing only" to see them all.' : 'None of its jobs has a running instance right now.'}
              </Empty>
            }
          />
        </>
      )}
    </Page>
  );
}

/** One badge per check; the output shows on hover (title) and, expanded, under the badges. */
function Checks(props: { instance: ServiceInstance; open: boolean; onToggle: () => void }): JSX.Element {
  const checks = props.instance.checks;
  if (checks.length === 0) return <span class="hint">no checks</span>;
  const hasOutput = checks.some((c) => c.output !== '');
  return (
    <div class="services-checks">
      <span class="services-badges">
        {checks.map((c) => (
          <Badge key={c.name} status={c.status} title={c.output === '' ? `${c.name}: ${c.status}` : `${c.name}: ${c.output}`}>
            {c.name}
          </Badge>
        ))}
        {hasOutput && (
          <button type="button" class="services-more" aria-expanded={props.open} data-action="check-output" onClick={props.onToggle}>
            {props.open ? 'hide output' : 'output'}
          </button>
        )}
      </span>
      {props.open && (
        <dl class="services-output">
          {checks.map((c) => (
            <div key={c.name}>
              <dt>{c.name}</dt>
              <dd>
                <pre>{c.output === '' ? '(no output)' : c.output}</pre>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}

function StatusCounts(props: { s: ServiceSummary }): JSX.Element {
  const s = props.s;
  if (s.instances === 0) return <span class="hint">no instances</span>;
  return (
    <span class="services-counts">
      {s.passing > 0 && (
        <Badge status="passing" title={`${s.passing} passing`}>
          {s.passing} passing
        </Badge>
      )}
      {s.warning > 0 && (
        <Badge status="warning" title={`${s.warning} warning`}>
          {s.warning} warning
        </Badge>
      )}
      {s.critical > 0 && (
        <Badge status="critical" title={`${s.critical} critical`}>
          {s.critical} critical
        </Badge>
      )}
    </span>
  );
}

function Tags(props: { tags: readonly string[] }): JSX.Element {
  if (props.tags.length === 0) return <span class="hint">—</span>;
  return (
    <span class="services-list">
      {props.tags.map((t) => (
        <code key={t} class="services-tag">
          {t}
        </code>
      ))}
    </span>
  );
}

function StaleNote(props: { error: Error }): JSX.Element {
  return (
    <p class="note" role="status">
      Showing the last answer; the latest reload failed: {props.error.message}
    </p>
  );
}

function endpoint(i: ServiceInstance): string {
  const host = i.address === null ? '(address unknown)' : i.address.includes(':') ? `[${i.address}]` : i.address;
  return i.port === null ? host : `${host}:${i.port}`;
}

/** Worst first: critical, warning, passing. */
function statusRank(s: CheckStatus): number {
  return s === 'critical' ? 0 : s === 'warning' ? 1 : 2;
}

function serviceHref(name: string): string {
  return `#/services/${encodeURIComponent(name)}`;
}
