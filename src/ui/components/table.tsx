// A table with sortable columns and a text filter. Each column says how to show a row and, if
// it differs, the value to sort and filter by. The table carries data-table="<name>" and each
// row data-row="<key>" (the browser tests' hooks). On a narrow screen the table scrolls
// sideways inside its box instead of widening the page.
import type { ComponentChildren, JSX } from 'preact';
import { useMemo, useState } from 'preact/hooks';

export interface Column<T> {
  readonly key: string;
  readonly title: ComponentChildren;
  /** The value sorted and filtered by; strings compare naturally ("n2" before "n10"). Default: none (not sortable). */
  readonly value?: (row: T) => string | number | undefined;
  /** What the cell shows; default: value(row). */
  readonly render?: (row: T) => ComponentChildren;
  readonly align?: 'left' | 'right' | undefined;
  /** Hidden on a phone-sized screen (below 600 px). */
  readonly wide?: boolean | undefined;
  readonly sortable?: boolean | undefined;
}

export interface SortState {
  readonly key: string;
  readonly descending: boolean;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

export function compareValues(a: string | number | undefined, b: string | number | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

export function Table<T>(props: {
  readonly name: string;
  readonly rows: readonly T[];
  readonly columns: readonly Column<T>[];
  readonly rowKey: (row: T) => string;
  readonly initialSort?: SortState | undefined;
  /** Shows a filter box; matches any column's value, case-insensitive. */
  readonly filter?: boolean | undefined;
  readonly filterPlaceholder?: string | undefined;
  /** What a row is, for the count beside the filter: [one, many], e.g. ['member', 'members']. Default rows. */
  readonly noun?: readonly [string, string] | undefined;
  /** Shown instead of the table when there are no rows at all. */
  readonly empty?: ComponentChildren | undefined;
  readonly onRowClick?: ((row: T) => void) | undefined;
  /** Extra class names for a row (e.g. a dead member greyed out). */
  readonly rowClass?: ((row: T) => string | undefined) | undefined;
  /** Controls beside the filter box. */
  readonly toolbar?: ComponentChildren | undefined;
}): JSX.Element {
  const [sort, setSort] = useState<SortState | undefined>(props.initialSort);
  const [filterText, setFilterText] = useState('');
  const { rows, columns } = props;

  const shown = useMemo(() => {
    const needle = filterText.trim().toLowerCase();
    let out = needle === '' ? [...rows] : rows.filter((row) => columns.some((c) => String(c.value?.(row) ?? '').toLowerCase().includes(needle)));
    const column = sort === undefined ? undefined : columns.find((c) => c.key === sort.key);
    if (column?.value !== undefined && sort !== undefined) {
      const value = column.value;
      out = out.sort((a, b) => (sort.descending ? -1 : 1) * compareValues(value(a), value(b)));
    }
    return out;
  }, [rows, columns, sort, filterText]);

  const toggle = (key: string): void => setSort((s) => (s?.key === key ? { key, descending: !s.descending } : { key, descending: false }));

  return (
    <div class="table-block">
      {props.filter === true || props.toolbar !== undefined ? (
        <div class="table-toolbar">
          {props.filter === true ? (
            <input
              type="search"
              class="input table-filter"
              placeholder={props.filterPlaceholder ?? 'Filter…'}
              aria-label={props.filterPlaceholder ?? 'Filter'}
              value={filterText}
              onInput={(e) => setFilterText(e.currentTarget.value)}
              data-filter={props.name}
            />
          ) : null}
          {props.toolbar}
          {props.filter === true && rows.length > 0 ? (
            <span class="table-count" data-count={shown.length}>
              {shown.length === rows.length ? '' : `${shown.length} of `}
              {rows.length} {rows.length === 1 ? (props.noun?.[0] ?? 'row') : (props.noun?.[1] ?? 'rows')}
            </span>
          ) : null}
        </div>
      ) : null}
      {rows.length === 0 && props.empty !== undefined ? (
        props.empty
      ) : (
        <div class="table-scroll">
          <table class="table" data-table={props.name}>
            <thead>
              <tr>
                {columns.map((c) => {
                  const sortable = c.value !== undefined && c.sortable !== false;
                  const active = sort?.key === c.key;
                  const ariaSort = active ? (sort.descending ? 'descending' : 'ascending') : undefined;
                  return (
                    <th key={c.key} class={cellClass(c)} aria-sort={ariaSort} scope="col">
                      {sortable ? (
                        <button type="button" class="th-sort" onClick={() => toggle(c.key)} data-sort={c.key}>
                          {c.title}
                          <span class="sort-mark" aria-hidden="true">
                            {active ? (sort.descending ? '▾' : '▴') : ''}
                          </span>
                        </button>
                      ) : (
                        c.title
                      )}
                    </th>
                  );
                })}
              </tr>
            </thead>
            <tbody>
              {shown.map((row) => {
                const key = props.rowKey(row);
                const onRowClick = props.onRowClick;
                return (
                  <tr key={key} data-row={key} class={[onRowClick === undefined ? '' : 'row-link', props.rowClass?.(row) ?? ''].join(' ').trim() || undefined} onClick={onRowClick === undefined ? undefined : () => onRowClick(row)}>
                    {columns.map((c) => (
                      <td key={c.key} class={cellClass(c)}>
                        {c.render === undefined ? (c.value?.(row) ?? '') : c.render(row)}
                      </td>
                    ))}
                  </tr>
                );
              })}
              {shown.length === 0 ? (
                <tr class="row-none">
                  <td colSpan={columns.length}>{rows.length === 0 ? 'No rows.' : 'Nothing matches the filter.'}</td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function cellClass<T>(c: Column<T>): string | undefined {
  const classes = [c.align === 'right' ? 'num' : '', c.wide === true ? 'wide' : ''].filter((x) => x !== '');
  return classes.length === 0 ? undefined : classes.join(' ');
}
