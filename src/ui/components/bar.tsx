// A horizontal bar for a share of something (free CPU, memory, disk): `percent` of it filled,
// `label` beside it. Tone by default follows how much is free when `freeIsGood`.
import type { JSX } from 'preact';
import type { Tone } from './badge.tsx';

export function Bar(props: { readonly percent: number; readonly label?: string | undefined; readonly title?: string | undefined; readonly tone?: Tone | undefined; readonly freeIsGood?: boolean | undefined }): JSX.Element {
  const percent = Number.isFinite(props.percent) ? Math.max(0, Math.min(100, props.percent)) : 0;
  const tone = props.tone ?? (props.freeIsGood === true ? (percent < 10 ? 'bad' : percent < 25 ? 'warn' : 'good') : 'info');
  return (
    <div class="bar" title={props.title ?? props.label}>
      <div class="bar-track" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(percent)} aria-label={props.title ?? props.label}>
        <div class={`bar-fill tone-${tone}`} style={{ width: `${percent}%` }} />
      </div>
      {props.label === undefined ? null : <span class="bar-label">{props.label}</span>}
    </div>
  );
}
