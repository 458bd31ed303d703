/**
 * Child-process entry of one benchmark phase:
 *
 *     node build/bench/phase.js '{"shape":"fanout","n":1000,"phase":"cold","workdir":"...","jobs":2}'
 *
 * prints the phase's PhaseResult as one JSON line on stdout, or fails with a
 * message on stderr and exit code 1. See phases.ts for why a child per phase.
 */
import { PHASES, executePhase, type PhaseRequest } from './phases.js';
import { isShape } from './workflows.js';

function parseRequest(text: string | undefined): PhaseRequest {
  const request = JSON.parse(text ?? '') as Partial<PhaseRequest>;
  const { shape, n, phase, workdir, jobs } = request;
  if (typeof shape !== 'string' || !isShape(shape)) throw new Error(`expected a shape, got ${JSON.stringify(shape)}`);
  if (typeof phase !== 'string' || !(PHASES as readonly string[]).includes(phase))
    throw new Error(`expected a phase, got ${JSON.stringify(phase)}`);
  if (!Number.isSafeInteger(n) || (n as number) < 1)
    throw new Error(`expected a positive integer n, got ${JSON.stringify(n)}`);
  if (!Number.isSafeInteger(jobs) || (jobs as number) < 1)
    throw new Error(`expected a positive integer jobs, got ${JSON.stringify(jobs)}`);
  if (typeof workdir !== 'string' || workdir === '')
    throw new Error(`expected a workdir, got ${JSON.stringify(workdir)}`);
  return { shape, n: n as number, phase: phase as PhaseRequest['phase'], workdir, jobs: jobs as number };
}

try {
  const result = await executePhase(parseRequest(process.argv[2]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  process.stderr.write(`bench phase: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
