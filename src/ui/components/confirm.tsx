// A modal question before something that cannot be undone (delete a key, stop a job). Escape or
// a click outside cancels; the confirm button takes the focus when the modal opens, so Enter
// confirms (a page may move it, e.g. to a box where the operator types the name to confirm).
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function Confirm(props: {
  readonly title: string;
  readonly children?: ComponentChildren | undefined;
  readonly confirmLabel?: string | undefined;
  readonly cancelLabel?: string | undefined;
  /** Paints the confirm button red. */
  readonly danger?: boolean | undefined;
  /** Disables the buttons while the action runs. */
  readonly busy?: boolean | undefined;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
}): JSX.Element {
  const confirmButton = useRef<HTMLButtonElement>(null);
  const { onCancel, busy } = props;
  // The latest props for the key handler, so that a new onCancel on each render neither
  // re-registers it nor moves the focus (focus is taken once, when the modal opens).
  const latest = useRef({ onCancel, busy });
  latest.current = { onCancel, busy };
  useEffect(() => {
    confirmButton.current?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape' && latest.current.busy !== true) latest.current.onCancel();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div
      class="modal-backdrop"
      onClick={(e) => {
        if (e.target === e.currentTarget && busy !== true) onCancel();
      }}
    >
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title" data-confirm>
        <h2 id="confirm-title">{props.title}</h2>
        {props.children === undefined ? null : <div class="modal-body">{props.children}</div>}
        <div class="modal-actions">
          <button type="button" class="button" onClick={onCancel} disabled={busy === true} data-cancel>
            {props.cancelLabel ?? 'Cancel'}
          </button>
          <button type="button" ref={confirmButton} class={`button ${props.danger === true ? 'button-danger' : 'button-primary'}`} onClick={props.onConfirm} disabled={busy === true} data-confirm-button>
            {props.confirmLabel ?? 'Confirm'}
          </button>
        </div>
      </div>
    </div>
  );
}
