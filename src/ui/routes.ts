// The app's pages by location (hash router, router.ts). A page gets its route's parameters as
// props (#/jobs/:name -> <JobPage name="..."/>); it can also read them with useRoute().
import type { JSX } from 'preact';
import { AllocPage, JobPage, JobsPage } from './pages/jobs.tsx';
import { EventsPage } from './pages/events.tsx';
import { KvPage } from './pages/kv.tsx';
import { MembersPage } from './pages/members.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { ServicePage, ServicesPage } from './pages/services.tsx';
import { TopologyPage } from './pages/topology.tsx';
import { matchPath, useRoute, type Match } from './router.ts';

export { href, useRoute } from './router.ts';

/** The nav entry a page belongs to (the entry shown as current). */
export type Section = 'overview' | 'topology' | 'members' | 'jobs' | 'services' | 'kv' | 'events';

export interface RouteDef {
  readonly pattern: string;
  readonly page: (props: Readonly<Record<string, string>>) => JSX.Element;
  readonly section: Section;
}

export const ROUTES: readonly RouteDef[] = [
  { pattern: '#/', page: OverviewPage, section: 'overview' },
  { pattern: '#/topology', page: TopologyPage, section: 'topology' },
  { pattern: '#/members', page: MembersPage, section: 'members' },
  { pattern: '#/jobs', page: JobsPage, section: 'jobs' },
  { pattern: '#/jobs/:name', page: JobPage, section: 'jobs' },
  { pattern: '#/allocs/:id', page: AllocPage, section: 'jobs' },
  { pattern: '#/services', page: ServicesPage, section: 'services' },
  { pattern: '#/services/:name', page: ServicePage, section: 'services' },
  { pattern: '#/kv', page: KvPage, section: 'kv' },
  { pattern: '#/events', page: EventsPage, section: 'events' },
];

export const NAV: readonly { readonly section: Section; readonly label: string; readonly href: string }[] = [
  { section: 'overview', label: 'Overview', href: '#/' },
  { section: 'topology', label: 'Topology', href: '#/topology' },
  { section: 'members', label: 'Members', href: '#/members' },
  { section: 'jobs', label: 'Jobs', href: '#/jobs' },
  { section: 'services', label: 'Services', href: '#/services' },
  { section: 'kv', label: 'KV', href: '#/kv' },
  { section: 'events', label: 'Events', href: '#/events' },
];

export function matchRoute(path: string): Match<RouteDef> | undefined {
  return matchPath(ROUTES, path);
}

/** The route of the current location (undefined: no page has that address). */
export function useCurrentRoute(): { path: string; match: Match<RouteDef> | undefined } {
  const { path } = useRoute();
  return { path, match: matchRoute(path) };
}
