// Child process for the SIGKILL tests (crash.test.ts). It writes as fast as it can and prints
// one line per acknowledged (durable) write on stdout; the parent kills it mid-write and checks
// that everything acknowledged survived.
//   node storage-child.ts wal DIR      appends records with 8 concurrent appenders
//   node storage-child.ts atomic PATH  rewrites an atomic file with a counter
import { writeAtomic } from '../../../src/runtime/storage/atomic-file.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';
import { Wal } from '../../../src/runtime/storage/wal.ts';
import { atomicContent, CHILD_WAL_OPTIONS, walPayload } from './crash-shared.ts';

const [mode, target] = process.argv.slice(2);
const fs = new NodeFileSystem();

if (mode === 'wal' && target !== undefined) {
  const opened = await Wal.open(fs, target, CHILD_WAL_OPTIONS);
  if (!opened.ok) {
    process.stderr.write(`${opened.error.message}\n`);
    process.exit(3);
  }
  const wal = opened.value.wal;
  let next = wal.lastIndex + 1;
  const appender = async (): Promise<never> => {
    for (;;) {
      const index = next++;
      // Indexes are assigned in call order, so the payload can depend on the index.
      const range = await wal.append([walPayload(index)], { expectedFirstIndex: index });
      process.stdout.write(`${range.lastIndex}\n`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, appender));
} else if (mode === 'atomic' && target !== undefined) {
  for (let n = 1; ; n++) {
    await writeAtomic(fs, target, atomicContent(n));
    process.stdout.write(`${n}\n`);
  }
} else {
  process.stderr.write('usage: storage-child.ts wal DIR | atomic PATH\n');
  process.exit(2);
}
