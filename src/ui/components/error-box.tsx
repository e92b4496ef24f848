// A failure said plainly, in the agent's words when it gave some, with a retry.
import type { JSX } from 'preact';
import { ApiError } from '../api.ts';

/** What went wrong, in the agent's words when it said something. */
export function describeError(error: unknown): { title: string; message: string } {
  if (error instanceof ApiError) {
    if (error.status === 0) return { title: 'The agent cannot be reached', message: error.message };
    if (error.status === 503) return { title: 'The cluster cannot answer right now', message: error.message };
    if (error.status === 404) return { title: 'Not found', message: error.message };
    return { title: `The agent refused (${error.status} ${error.code})`, message: error.message };
  }
  return { title: 'Something went wrong', message: error instanceof Error ? error.message : String(error) };
}

export function ErrorBox(props: { readonly error: unknown; readonly onRetry?: (() => void) | undefined; readonly title?: string | undefined }): JSX.Element {
  const { title, message } = describeError(props.error);
  return (
    <div class="error-box" role="alert" data-error>
      <p class="error-title">{props.title ?? title}</p>
      <p class="error-message">{message}</p>
      {props.onRetry === undefined ? null : (
        <button type="button" class="button" onClick={props.onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
