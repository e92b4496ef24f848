// Nothing to show yet, said plainly (a page with no jobs, a prefix with no keys), with a hint of
// what would fill it.
import type { ComponentChildren, JSX } from 'preact';

export function Empty(props: { readonly title?: string | undefined; readonly children?: ComponentChildren | undefined }): JSX.Element {
  return (
    <div class="empty" data-empty>
      <p class="empty-title">{props.title ?? 'Nothing here yet'}</p>
      {props.children === undefined ? null : <div class="empty-body">{props.children}</div>}
    </div>
  );
}
