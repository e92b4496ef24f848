// A page's frame: its title, optional actions on the right, its content. The root carries
// data-page="<name>" (the browser tests' hook, see the UI contract).
import type { ComponentChildren, JSX } from 'preact';

export function Page(props: { readonly name: string; readonly title: ComponentChildren; readonly actions?: ComponentChildren | undefined; readonly children?: ComponentChildren | undefined }): JSX.Element {
  return (
    <section class="page" data-page={props.name}>
      <header class="page-head">
        <h1>{props.title}</h1>
        {props.actions === undefined ? null : <div class="page-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}
