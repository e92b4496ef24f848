// KV browser (#/kv): keys under a prefix shown one folder level at a time (folders split on
// '/'), a key's value (text when UTF-8, else a hex dump and its size) with its create and mod
// revisions and version, edits by compare-and-swap, new keys, deletes. The prefix and the open
// key live in the address (#/kv?prefix=config/&key=config/db), so a reload or a link keeps them.
//
// Writes are always conditional (src/api/kv.ts): an edit is PUT /v1/kv/KEY?cas=<the modRevision
// it started from>, a new key PUT ?cas=0 (only if absent), a delete DELETE ?cas=<modRevision
// shown>. A 409 means someone else wrote first: the page shows the value now and lets the
// operator take it (reload) or write theirs over it knowingly (a CAS against the new revision).

import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, apiGet, apiSend } from '../api.ts';
import { Badge, Confirm, Empty, ErrorBox, Loading, Page, Table, type Column } from '../components/index.ts';
import { useLive, type LiveData } from '../hooks.ts';
import { useRoute } from '../router.ts';
import {
  browseRows,
  crumbs,
  hexDump,
  keyPath,
  keyProblem,
  MAX_VALUE_BYTES,
  parentPrefix,
  parseHex,
  preview,
  toHex,
  valueBytes,
  type BrowseRow,
  type KvEntry,
  type KvList,
} from './kv-parts.ts';
import './kv.css';

/** Keys listed at once (a listing carries every value; see the report on a keys-only listing). */
const LIST_LIMIT = 500;

type EditMode = 'text' | 'hex';

/** Where the address says the page is. */
function kvHref(prefix: string, key?: string): string {
  const q = new URLSearchParams();
  if (prefix !== '') q.set('prefix', prefix);
  if (key !== undefined) q.set('key', key);
  const s = q.toString();
  return s === '' ? '#/kv' : `#/kv?${s}`;
}

export function KvPage(): JSX.Element {
  const route = useRoute();
  const prefix = route.query.get('prefix') ?? '';
  const key = route.query.get('key') ?? undefined;
  const [creating, setCreating] = useState(false);

  const listProblem = prefix === '' ? undefined : keyProblem(prefix);
  const listing = useLive<KvList>(`/v1/kv?prefix=${encodeURIComponent(prefix)}&limit=${LIST_LIMIT}`);

  return (
    <Page
      name="kv"
      title="Key-value store"
      actions={
        <button type="button" class="button button-primary" data-action="new-key" onClick={() => setCreating(true)}>
          New key
        </button>
      }
    >
      <PrefixBar prefix={prefix} />
      {creating && (
        <CreateForm
          prefix={prefix}
          onDone={(created) => {
            setCreating(false);
            if (created !== undefined) location.hash = kvHref(parentPrefix(created), created);
          }}
        />
      )}
      <div class={`kv-layout${key === undefined ? '' : ' with-detail'}`}>
        <div class="kv-browse">
          {listProblem !== undefined && <p class="alert tone-warn">{listProblem}</p>}
          <Listing prefix={prefix} selected={key} live={listing} onNew={() => setCreating(true)} />
        </div>
        {key !== undefined && <KeyDetail key={key} keyName={key} prefix={prefix} onListChanged={listing.reload} />}
      </div>
    </Page>
  );
}

/** The prefix as breadcrumbs (each folder a link) and a box to type one. */
function PrefixBar(props: { prefix: string }): JSX.Element {
  const [typed, setTyped] = useState(props.prefix);
  useEffect(() => setTyped(props.prefix), [props.prefix]);
  return (
    <div class="kv-prefix">
      <nav class="kv-crumbs" aria-label="folders" data-crumbs>
        <a href={kvHref('')} class={props.prefix === '' ? 'current' : ''}>
          (all keys)
        </a>
        {crumbs(props.prefix).map((c) => (
          <a key={c.prefix} href={kvHref(c.prefix)} class={c.prefix === props.prefix ? 'current' : ''}>
            {c.label}
          </a>
        ))}
      </nav>
      <form
        class="kv-prefix-form"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = kvHref(typed);
        }}
      >
        <input class="input" type="search" name="prefix" placeholder="prefix, e.g. config/" aria-label="Prefix" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} />
        <button type="submit" class="button">
          Browse
        </button>
      </form>
    </div>
  );
}

function Listing(props: { prefix: string; selected: string | undefined; live: LiveData<KvList>; onNew: () => void }): JSX.Element {
  const { live, prefix } = props;
  if (live.data === undefined) {
    return live.error !== undefined ? <ErrorBox error={live.error} onRetry={live.reload} /> : <Loading what="keys" />;
  }
  const rows = browseRows(prefix, live.data.entries);
  const columns: readonly Column<BrowseRow>[] = [
    {
      key: 'name',
      title: 'Name',
      value: (r) => r.name,
      render: (r) =>
        r.kind === 'folder' ? (
          <a class="kv-folder" href={kvHref(r.prefix)} title={r.prefix}>
            {r.name}
          </a>
        ) : (
          <a class="kv-key" href={kvHref(prefix, r.entry.key)} title={r.entry.key}>
            {r.name === '' ? <em>{r.entry.key} (this key)</em> : r.name}
          </a>
        ),
    },
    {
      key: 'value',
      title: 'Value',
      value: (r) => (r.kind === 'folder' ? '' : preview(r.entry)),
      render: (r) => (r.kind === 'folder' ? <span class="hint">{r.keys === 1 ? '1 key' : `${r.keys} keys`}{live.data?.more ? ' or more' : ''}</span> : <span class={r.entry.valueEncoding === 'base64' ? 'hint' : 'kv-preview'}>{preview(r.entry)}</span>),
      sortable: false,
    },
    { key: 'version', title: 'Version', value: (r) => (r.kind === 'folder' ? undefined : r.entry.version), align: 'right', wide: true },
    { key: 'mod', title: 'Mod rev', value: (r) => (r.kind === 'folder' ? undefined : r.entry.modRevision), align: 'right', wide: true },
  ];
  return (
    <>
      {live.error !== undefined && (
        <p class="note" role="status">
          Showing the last answer; the latest reload failed: {live.error.message}
        </p>
      )}
      <Table
        name="kv"
        rows={rows}
        columns={columns}
        rowKey={(r) => (r.kind === 'folder' ? r.prefix : r.entry.key)}
        rowClass={(r) => (r.kind === 'key' && r.entry.key === props.selected ? 'selected' : r.kind === 'folder' ? 'kv-folder-row' : undefined)}
        onRowClick={(r) => {
          location.hash = r.kind === 'folder' ? kvHref(r.prefix) : kvHref(prefix, r.entry.key);
        }}
        filter={rows.length > 8}
        filterPlaceholder="Filter this folder…"
        empty={
          <Empty title={prefix === '' ? 'The store is empty' : `No keys under “${prefix}”`}>
            <button type="button" class="button" onClick={props.onNew}>
              Create a key
            </button>
          </Empty>
        }
      />
      <p class="hint kv-foot">
        {live.data.more ? `The first ${LIST_LIMIT} keys under this prefix are shown; narrow the prefix to see the rest. ` : ''}
        Store revision {live.data.revision}.
      </p>
    </>
  );
}

type Conflict = { readonly current: KvEntry | null; readonly message: string };
type Draft = { readonly base: KvEntry; readonly mode: EditMode; readonly text: string };
type Notice = { readonly ok: boolean; readonly text: string } | undefined;

function KeyDetail(props: { keyName: string; prefix: string; onListChanged: () => void }): JSX.Element {
  const key = props.keyName;
  const problem = keyProblem(key);
  const live = useLive<KvEntry>(problem === undefined ? keyPath(key) : null);
  const [draft, setDraft] = useState<Draft | undefined>(undefined);
  const [conflict, setConflict] = useState<Conflict | undefined>(undefined);
  const [notice, setNotice] = useState<Notice>(undefined);
  const [deleting, setDeleting] = useState(false);
  const [busy, setBusy] = useState(false);
  const entry = live.data;
  const cancelDelete = useCallback(() => setDeleting(false), []);
  const close = (): void => {
    location.hash = kvHref(props.prefix);
  };

  const startEdit = (from: KvEntry): void => {
    const binary = from.valueEncoding === 'base64';
    setDraft({ base: from, mode: binary ? 'hex' : 'text', text: binary ? toHex(valueBytes(from)) : from.value });
    setConflict(undefined);
    setNotice(undefined);
  };

  /** After a 409: what the key holds now (null: deleted). */
  const fetchCurrent = async (): Promise<KvEntry | null> => {
    try {
      return await apiGet<KvEntry>(keyPath(key));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  };

  const save = async (d: Draft, cas: number): Promise<void> => {
    const bytes = draftBytes(d);
    if (!bytes.ok) {
      setNotice({ ok: false, text: bytes.message });
      return;
    }
    setBusy(true);
    try {
      const r = await apiSend<{ revision: number }>('PUT', `${keyPath(key)}?cas=${cas}`, bytes.bytes);
      setDraft(undefined);
      setConflict(undefined);
      setNotice({ ok: true, text: `Saved at revision ${r.revision}.` });
      live.reload();
      props.onListChanged();
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setConflict({ current: await fetchCurrent().catch(() => null), message: e.message });
      } else {
        setNotice({ ok: false, text: `Could not save: ${e instanceof Error ? e.message : String(e)}` });
      }
    } finally {
      setBusy(false);
    }
  };

  const remove = async (cas: number): Promise<void> => {
    setBusy(true);
    try {
      await apiSend<{ revision: number }>('DELETE', `${keyPath(key)}?cas=${cas}`);
      setDeleting(false);
      props.onListChanged();
      close();
    } catch (e) {
      setDeleting(false);
      if (e instanceof ApiError && e.status === 409) {
        setNotice({ ok: false, text: `Not deleted: the key changed meanwhile (${e.message}). Look at its value now, then delete again if you still mean to.` });
        live.reload();
      } else {
        setNotice({ ok: false, text: `Could not delete: ${e instanceof Error ? e.message : String(e)}` });
      }
    } finally {
      setBusy(false);
    }
  };

  let body: ComponentChildren;
  if (problem !== undefined) {
    body = <p class="error-box">{problem}</p>;
  } else if (entry === undefined && draft === undefined) {
    body =
      live.error === undefined ? (
        <Loading what={key} />
      ) : live.error instanceof ApiError && live.error.status === 404 ? (
        <Empty title="No such key">
          <code>{key}</code> does not exist (any more).
        </Empty>
      ) : (
        <ErrorBox error={live.error} onRetry={live.reload} />
      );
  } else if (draft !== undefined) {
    const moved = entry !== undefined && entry.modRevision !== draft.base.modRevision;
    const gone = entry === undefined && live.error instanceof ApiError && live.error.status === 404;
    body = (
      <>
        {(moved || gone) && conflict === undefined && (
          <p class="alert tone-warn" role="status" data-changed>
            {gone ? 'The key was deleted since you started editing.' : `The key changed since you started editing (now version ${entry!.version}, mod revision ${entry!.modRevision}).`} Saving will report the conflict.
          </p>
        )}
        {conflict !== undefined && (
          <ConflictBox
            conflict={conflict}
            busy={busy}
            onReload={() => {
              if (conflict.current === null) {
                setDraft(undefined);
                setConflict(undefined);
                live.reload();
              } else startEdit(conflict.current);
            }}
            onOverwrite={() => void save(draft, conflict.current === null ? 0 : conflict.current.modRevision)}
          />
        )}
        <Editor
          draft={draft}
          busy={busy}
          onChange={setDraft}
          onSave={() => void save(draft, draft.base.modRevision)}
          onCancel={() => {
            setDraft(undefined);
            setConflict(undefined);
          }}
        />
      </>
    );
  } else {
    const e = entry!;
    body = (
      <>
        {live.error !== undefined && (
          <p class="note" role="status">
            {live.error instanceof ApiError && live.error.status === 404 ? 'The key was deleted meanwhile; this is its last value.' : `Showing the last answer; the latest reload failed: ${live.error.message}`}
          </p>
        )}
        <Revisions entry={e} />
        <ValueView entry={e} />
        <div class="kv-actions">
          <button type="button" class="button button-primary" data-action="edit" onClick={() => startEdit(e)}>
            Edit
          </button>
          <button type="button" class="button button-danger" data-action="delete" onClick={() => setDeleting(true)}>
            Delete
          </button>
        </div>
        {deleting && (
          <Confirm title={`Delete ${e.key}?`} confirmLabel="Delete" danger busy={busy} onConfirm={() => void remove(e.modRevision)} onCancel={cancelDelete}>
            <p>
              The key and its value ({valueBytes(e).length} bytes) are removed for every node. Only if nobody changed it since mod revision {e.modRevision} (the value shown).
            </p>
          </Confirm>
        )}
      </>
    );
  }

  return (
    <section class="card kv-detail" data-key={key}>
      <header class="kv-detail-head">
        <h2 class="kv-key-name">{key}</h2>
        <button type="button" class="button" aria-label="Close" onClick={close}>
          Close
        </button>
      </header>
      {notice !== undefined && (
        <p class={notice.ok ? 'alert tone-good' : 'error-box'} role={notice.ok ? 'status' : 'alert'} data-outcome={notice.ok ? 'ok' : 'failed'}>
          {notice.text}
        </p>
      )}
      {body}
    </section>
  );
}

function Revisions(props: { entry: KvEntry }): JSX.Element {
  const e = props.entry;
  return (
    <dl class="kv-revs">
      <div>
        <dt>Version</dt>
        <dd data-version>{e.version}</dd>
      </div>
      <div>
        <dt>Mod revision</dt>
        <dd data-mod-revision>{e.modRevision}</dd>
      </div>
      <div>
        <dt>Create revision</dt>
        <dd>{e.createRevision}</dd>
      </div>
      <div>
        <dt>Size</dt>
        <dd>{valueBytes(e).length} bytes</dd>
      </div>
      {e.session !== undefined && (
        <div>
          <dt>Session</dt>
          <dd title="deleted when this session ends">
            <code>{e.session}</code>
          </dd>
        </div>
      )}
    </dl>
  );
}

function ValueView(props: { entry: KvEntry }): JSX.Element {
  const e = props.entry;
  if (e.valueEncoding === 'base64') {
    const bytes = valueBytes(e);
    return (
      <div class="kv-value">
        <p class="hint">
          <Badge status="binary" tone="info">
            binary
          </Badge>{' '}
          Not UTF-8 text: {bytes.length} bytes, shown in hex.
        </p>
        <pre class="kv-value-text kv-hex" data-value>
          {hexDump(bytes)}
        </pre>
      </div>
    );
  }
  return e.value === '' ? (
    <p class="hint kv-value" data-value>
      (empty value)
    </p>
  ) : (
    <pre class="kv-value-text" data-value>
      {e.value}
    </pre>
  );
}

function ConflictBox(props: { conflict: Conflict; busy: boolean; onReload: () => void; onOverwrite: () => void }): JSX.Element {
  const c = props.conflict.current;
  return (
    <div class="alert tone-warn kv-conflict" role="alert" data-conflict>
      <p>
        <strong>Changed meanwhile.</strong> {c === null ? 'Someone deleted the key after you started editing.' : `Someone wrote the key after you started editing: it is now version ${c.version} (mod revision ${c.modRevision}).`} Your edit was not saved.
      </p>
      {c !== null && (
        <>
          <p class="hint">Its value now:</p>
          <ValueView entry={c} />
        </>
      )}
      <div class="kv-actions">
        <button type="button" class="button button-primary" data-action="reload" disabled={props.busy} onClick={props.onReload}>
          {c === null ? 'Discard my edit' : 'Reload (discard my edit)'}
        </button>
        <button type="button" class="button button-danger" data-action="overwrite" disabled={props.busy} onClick={props.onOverwrite}>
          {c === null ? 'Create it again with my value' : 'Save mine over it'}
        </button>
      </div>
    </div>
  );
}

function Editor(props: { draft: Draft; busy: boolean; onChange: (d: Draft) => void; onSave: () => void; onCancel: () => void }): JSX.Element {
  const d = props.draft;
  const bytes = draftBytes(d);
  return (
    <form
      class="kv-editor"
      data-form="kv-edit"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSave();
      }}
    >
      <ModeSwitch draft={d} onChange={(m) => props.onChange({ ...d, ...m })} />
      <textarea
        class="input kv-textarea"
        name="value"
        rows={10}
        spellcheck={false}
        value={d.text}
        onInput={(e) => props.onChange({ ...d, text: e.currentTarget.value })}
        onKeyDown={(e) => {
          // Ctrl/Cmd+Enter saves, as in most editors' forms.
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) props.onSave();
        }}
      />
      <p class={bytes.ok ? 'hint' : 'kv-invalid'}>
        {bytes.ok ? `${bytes.bytes.length} bytes; saved only if the key is still at mod revision ${d.base.modRevision}.` : bytes.message}
      </p>
      <div class="kv-actions">
        <button type="submit" class="button button-primary" disabled={props.busy || !bytes.ok}>
          {props.busy ? 'Saving…' : 'Save'}
        </button>
        <button type="button" class="button" disabled={props.busy} onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Text or hex: switching converts what is typed (text that is not valid hex cannot go back). */
function ModeSwitch(props: { draft: Pick<Draft, 'mode' | 'text'>; onChange: (d: { mode: EditMode; text: string }) => void }): JSX.Element {
  const d = props.draft;
  const to = (mode: EditMode): void => {
    if (mode === d.mode) return;
    if (mode === 'hex') props.onChange({ mode, text: toHex(new TextEncoder().encode(d.text)) });
    else {
      const parsed = parseHex(d.text);
      if (!parsed.ok) return;
      const text = new TextDecoder('utf-8', { fatal: false }).decode(parsed.bytes);
      props.onChange({ mode, text });
    }
  };
  const hexInvalid = d.mode === 'hex' && !parseHex(d.text).ok;
  return (
    <div class="kv-seg" role="group" aria-label="value as">
      <button type="button" aria-pressed={d.mode === 'text'} class={`button${d.mode === 'text' ? ' active' : ''}`} disabled={hexInvalid} onClick={() => to('text')}>
        Text
      </button>
      <button type="button" aria-pressed={d.mode === 'hex'} class={`button${d.mode === 'hex' ? ' active' : ''}`} onClick={() => to('hex')}>
        Hex
      </button>
    </div>
  );
}

function CreateForm(props: { prefix: string; onDone: (created: string | undefined) => void }): JSX.Element {
  const [key, setKey] = useState(props.prefix);
  const [value, setValue] = useState<{ mode: EditMode; text: string }>({ mode: 'text', text: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ComponentChildren | undefined>(undefined);
  const bytes = draftBytes(value);
  const problem = key === '' ? undefined : keyProblem(key);

  const submit = async (): Promise<void> => {
    const why = keyProblem(key);
    if (why !== undefined) return setError(why);
    if (!bytes.ok) return setError(bytes.message);
    setBusy(true);
    setError(undefined);
    try {
      await apiSend<{ revision: number }>('PUT', `${keyPath(key)}?cas=0`, bytes.bytes);
      props.onDone(key);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setError(
          <>
            <code>{key}</code> already exists: nothing was written.{' '}
            <a href={kvHref(parentPrefix(key), key)} onClick={() => props.onDone(undefined)}>
              Open it
            </a>{' '}
            to edit it.
          </>,
        );
      } else setError(`Could not create: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="card kv-create"
      data-form="kv-create"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>New key</h2>
      <label class="kv-field">
        <span>Key</span>
        <input class="input" name="key" required autoComplete="off" spellcheck={false} value={key} onInput={(e) => setKey(e.currentTarget.value)} placeholder="config/db-url" />
      </label>
      {problem !== undefined && <p class="kv-invalid">{problem}</p>}
      <div class="kv-field">
        <span>Value</span>
        <ModeSwitch draft={value} onChange={setValue} />
        <textarea class="input kv-textarea" name="value" rows={6} spellcheck={false} value={value.text} onInput={(e) => setValue({ ...value, text: e.currentTarget.value })} />
      </div>
      <p class={bytes.ok ? 'hint' : 'kv-invalid'}>{bytes.ok ? `${bytes.bytes.length} bytes; created only if the key does not exist yet.` : bytes.message}</p>
      {error !== undefined && (
        <p class="error-box" role="alert">
          {error}
        </p>
      )}
      <div class="kv-actions">
        <button type="submit" class="button button-primary" disabled={busy || !bytes.ok || key === '' || problem !== undefined}>
          {busy ? 'Creating…' : 'Create'}
        </button>
        <button type="button" class="button" disabled={busy} onClick={() => props.onDone(undefined)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function draftBytes(d: { mode: EditMode; text: string }): { ok: true; bytes: Uint8Array } | { ok: false; message: string } {
  const parsed = d.mode === 'hex' ? parseHex(d.text) : { ok: true as const, bytes: new TextEncoder().encode(d.text) };
  if (parsed.ok && parsed.bytes.length > MAX_VALUE_BYTES) return { ok: false, message: `the value has ${parsed.bytes.length} bytes; the limit is ${MAX_VALUE_BYTES}` };
  return parsed;
}
