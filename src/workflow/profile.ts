/**
 * A run profile (`run-graph run --profile file.json`): the settings of one
 * kind of run, such as a cluster partition or a workstation, kept apart from
 * the workflow so the same workflow runs anywhere. It holds resource defaults
 * for every node and, optionally, the cores the run may use. Checked against
 * `schemas/profile.schema.json`; every error names the file and field.
 */
import { readFile } from 'node:fs/promises';
import { RunGraphError, isErrnoException } from '../errors.js';
import { parseResources, type ResourceLayer } from '../operations/resources.js';
import { assertMatchesSchema } from './schema.js';

export const PROFILE_SCHEMA = 'profile.schema.json';

/** A profile as read and checked. */
export interface RunProfile {
  /** The path as the user gave it. */
  readonly file: string;
  /** Resource defaults of every node; undefined when the profile sets none. */
  readonly resources: ResourceLayer | undefined;
  /** Cores the run may use; undefined: what the process may use. */
  readonly cores: number | undefined;
}

/** Read, parse and check a profile file. */
export async function loadProfile(file: string): Promise<RunProfile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = isErrnoException(error) && error.code === 'ENOENT' ? 'no such file' : String(error);
    throw new RunGraphError('E_USAGE', `cannot read profile: ${reason}`, { file, cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new RunGraphError('E_WORKFLOW_JSON', `profile is not valid JSON: ${(error as Error).message}`, {
      file,
      cause: error,
    });
  }
  assertMatchesSchema(PROFILE_SCHEMA, document, file);
  const given = document as { resources?: unknown; cores?: number };
  return {
    file,
    resources: given.resources === undefined ? undefined : parseResources(given.resources, { file }, 'resources'),
    cores: given.cores,
  };
}
