// Still asking the agent.
import type { JSX } from 'preact';

export function Loading(props: { readonly what?: string | undefined }): JSX.Element {
  return (
    <div class="loading" role="status" aria-live="polite" data-loading>
      <span class="spinner" aria-hidden="true" />
      {props.what === undefined ? 'Loading…' : `Loading ${props.what}…`}
    </div>
  );
}
