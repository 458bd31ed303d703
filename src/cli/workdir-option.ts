/** The working directory a command uses when `--workdir` is not given: `<name>.workdir` beside the workflow file. */
import { basename, dirname, extname, join } from 'node:path';

export function defaultWorkdir(workflowFile: string): string {
  const name = basename(workflowFile, extname(workflowFile));
  return join(dirname(workflowFile), `${name}.workdir`);
}

export function chosenWorkdir(workflowFile: string, workdir: string | undefined): string {
  return workdir ?? defaultWorkdir(workflowFile);
}
