// `sappers services [NAME] [--passing]`: the service catalog (issue 6, item 6).
import { Command } from 'commander';
import { clientFrom } from '../context.ts';
import { formatTable, printJson } from '../output.ts';
import { shortId } from './job.ts';

export function servicesCommand(): Command {
  return new Command('services')
    .argument('[name]', 'one service: list its instances')
    .summary('list services and their instances with health')
    .description(
      "The service catalog: every service a running job declares (its `service:` section), with its instances (the job's running allocations) " +
        'counted by status. With NAME, each instance: allocation, node, address and port, status and checks. ' +
        "An instance's status is its worst check; without checks it is passing when its allocation is healthy, else critical. " +
        '--passing lists only passing instances, as DNS answers (<name>.service.sappers).',
    )
    .option('--passing', 'only instances whose checks all pass')
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON instead of a table')
    .action(async (name: string | undefined, options: { passing?: boolean; stale?: boolean; json?: boolean }, command: Command) => {
      const client = clientFrom(command);
      const stale = options.stale === true;
      if (name === undefined) {
        const services = await client.services({ stale });
        const shown = options.passing ? services.filter((s) => s.passing > 0) : services;
        if (options.json) return printJson(shown);
        if (shown.length === 0) return console.log(options.passing ? 'no service has a passing instance' : 'no services');
        console.log(formatTable(['NAME', 'INSTANCES', 'PASSING', 'WARNING', 'CRITICAL', 'JOBS', 'TAGS'], shown.map((s) => [s.name, s.instances, s.passing, s.warning, s.critical, s.jobs, s.tags])));
        return;
      }
      const view = await client.service(name, { passing: options.passing === true, stale });
      if (options.json) return printJson(view);
      if (view.instances.length === 0) return console.log(options.passing ? `service "${name}" has no passing instance` : `service "${name}" has no running instance`);
      console.log(
        formatTable(
          ['ALLOC', 'JOB', 'NODE', 'ADDRESS', 'PORT', 'STATUS', 'CHECKS'],
          view.instances.map((i) => [shortId(i.alloc), i.job, i.node, i.address, i.port, i.status, i.checks.map((c) => `${c.name}=${c.status}`)]),
        ),
      );
    });
}
