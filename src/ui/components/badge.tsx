// A status word in its colour: good (alive, passing, healthy, running, active), warning
// (suspect, warning, pending), bad (dead, critical, failed, lost, no-quorum), neutral (left,
// unknown, anything else). data-status carries the raw status for tests and styles.
import type { ComponentChildren, JSX } from 'preact';

export type Tone = 'good' | 'warn' | 'bad' | 'info' | 'neutral';

const TONES: Readonly<Record<string, Tone>> = {
  alive: 'good',
  passing: 'good',
  healthy: 'good',
  running: 'good',
  active: 'good',
  complete: 'good',
  leader: 'info',
  suspect: 'warn',
  warning: 'warn',
  pending: 'warn',
  electing: 'warn',
  joining: 'warn',
  'waiting-for-nodes': 'warn',
  dead: 'bad',
  critical: 'bad',
  failed: 'bad',
  lost: 'bad',
  unhealthy: 'bad',
  'no-quorum': 'bad',
  left: 'neutral',
  unknown: 'neutral',
};

export function toneOf(status: string): Tone {
  return TONES[status] ?? 'neutral';
}

export function Badge(props: { readonly status: string; readonly tone?: Tone | undefined; readonly title?: string | undefined; readonly children?: ComponentChildren | undefined }): JSX.Element {
  return (
    <span class={`badge tone-${props.tone ?? toneOf(props.status)}`} data-status={props.status} title={props.title}>
      {props.children ?? props.status}
    </span>
  );
}
