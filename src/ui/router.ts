// A hash router: the app's location is the part of the URL after '#' ("#/jobs/web"), so the
// agent serves one index.html and a reload or a shared link opens the same page. The matching
// lives in route-match.ts; this adds the hook that follows the location.
import { useEffect, useState } from 'preact/hooks';
import { parseHash, type RouteLocation } from './route-match.ts';

export { href, matchPath, parseHash, type Match, type RouteLocation } from './route-match.ts';

/** The current location, re-rendering on every hash change. */
export function useRoute(): RouteLocation {
  const [hash, setHash] = useState(() => location.hash);
  useEffect(() => {
    const onChange = (): void => setHash(location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parseHash(hash);
}
