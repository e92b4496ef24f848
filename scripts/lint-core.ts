// Keeps src/core pure (DESIGN.md, Architecture): no node:* modules, no timers, no ambient clock
// or randomness. Time and randomness are injected, so the simulator can replay a run from a
// seed. Comments are checked too, on purpose: the rule is simple to state and to grep.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly rule: string;
  readonly text: string;
}

const RULES: ReadonlyArray<{ readonly rule: string; readonly pattern: RegExp }> = [
  { rule: 'node:* import', pattern: /\bfrom\s+['"]node:|\bimport\s*\(\s*['"]node:|\brequire\s*\(\s*['"]node:/ },
  { rule: 'bare node builtin import', pattern: /\bfrom\s+['"](fs|path|os|net|dgram|crypto|child_process|timers|worker_threads|http|https|tls|process)(\/[^'"]*)?['"]/ },
  { rule: 'timer', pattern: /\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|clearImmediate|queueMicrotask)\b/ },
  { rule: 'ambient clock', pattern: /\bDate\.now\b|\bperformance\.now\b|\bnew Date\(\s*\)/ },
  { rule: 'ambient randomness', pattern: /\bMath\.random\b|\bcrypto\.getRandomValues\b|\brandomUUID\b/ },
  { rule: 'process global', pattern: /\bprocess\.(env|argv|exit|hrtime|nextTick|stdout|stderr)\b/ },
];

export function lintSource(file: string, source: string): Violation[] {
  const out: Violation[] = [];
  source.split('\n').forEach((text, i) => {
    for (const { rule, pattern } of RULES) {
      if (pattern.test(text)) out.push({ file, line: i + 1, rule, text: text.trim() });
    }
  });
  return out;
}

function tsFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

export function lintTree(root: string): Violation[] {
  return tsFiles(root).flatMap((file) => lintSource(relative(process.cwd(), file), readFileSync(file, 'utf8')));
}

if (import.meta.main) {
  const root = process.argv[2] ?? 'src/core';
  const violations = lintTree(root);
  for (const v of violations) console.error(`${v.file}:${v.line}: ${v.rule} is not allowed in src/core: ${v.text}`);
  if (violations.length > 0) {
    console.error(`lint: ${violations.length} violation(s); inject a Clock or Random instead (DESIGN.md, Architecture)`);
    process.exit(1);
  }
  console.log(`lint: ${root} is pure (${tsFiles(root).length} files checked)`);
}
