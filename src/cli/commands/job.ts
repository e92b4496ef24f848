// `sappers job ...`: job files (issue 6). Today: `job validate FILE`, which checks a file the
// way the cluster will, without an agent; running jobs comes with the scheduler's wiring.
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { formatJobFileErrors, parseJobFile } from '../../wire/job-file.ts';
import { CliError } from '../errors.ts';
import { formatFields, printJson } from '../output.ts';

export function jobCommand(): Command {
  const job = new Command('job').summary('work with job files').description('Job files describe what the cluster runs (see "Job files" in docs/operator-guide.md).');
  job
    .command('validate')
    .argument('<file>', 'a job file (YAML)')
    .summary('check a job file, without an agent')
    .description(
      'Read a job file and check it as the cluster would: every problem is printed as FILE:LINE:COL: field: what is wrong, and the command exits 2. ' +
        'A valid file prints the job as the cluster will see it, defaults filled in (--json for all of it).',
    )
    .option('--json', 'print the parsed job as JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
      }
      const parsed = parseJobFile(file, text);
      if (!parsed.ok) throw new CliError(`${file} is not a valid job file:\n${formatJobFileErrors(parsed.error)}`, 2);
      const spec = parsed.value;
      if (options.json) return printJson(spec);
      console.log(
        formatFields([
          ['Job', spec.job],
          ['Type', spec.type],
          ['Count', spec.type === 'system' ? 'one per eligible node' : spec.count],
          ['Driver', spec.driver],
          ['CPU', `${spec.resources.cpuMillis}m`],
          ['Memory', `${spec.resources.memoryMB} MB`],
          ['Ports', spec.resources.ports.map((p) => (p.static === undefined ? `${p.label} (dynamic)` : `${p.label}=${p.static}`))],
          ['Constraints', spec.constraints.map((c) => `${c.attribute} ${c.operator}${c.value === undefined ? '' : ` ${c.value}`}`)],
          ['Spread', spec.spread.map((s) => `${s.attribute} (weight ${s.weight})`)],
          ['Service', spec.service === undefined ? undefined : `${spec.service.name} on port ${spec.service.port}, ${spec.service.checks.length} check(s)`],
        ]),
      );
      console.log(`\n${file} is valid`);
    });
  return job;
}
