// The shared components in one import: `import { Table, Badge } from '../components/index.ts'`.
export { Badge, toneOf, type Tone } from './badge.tsx';
export { Bar } from './bar.tsx';
export { Confirm } from './confirm.tsx';
export { Empty } from './empty.tsx';
export { ErrorBox, describeError } from './error-box.tsx';
export { Loading } from './loading.tsx';
export { Page } from './page.tsx';
export { Table, compareValues, type Column, type SortState } from './table.tsx';
