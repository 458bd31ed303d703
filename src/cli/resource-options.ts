/**
 * The options of `run` and `validate` that set a run's resource defaults:
 * `--profile file.json` and `--default-resources cpus=2,mem=4G,time=1h`.
 *
 * Precedence, least specific first (each field from the last that sets it):
 * built-in defaults (1 cpu, no limits) < the workflow's `"defaults"` <
 * `--profile` < `--default-resources` < the operation's own resources <
 * the subgraph, map or loop around the node < the node's own `"resources"`.
 * So the person running the workflow on a given machine overrides what the
 * workflow assumes in general, and what a node says it needs wins over both.
 */
import { Option, type Command } from 'commander';
import { parseResourceFlags, type ResourceLayer } from '../operations/resources.js';
import { loadProfile } from '../workflow/profile.js';

/** The two options as commander parses them. */
export interface ResourceCliOptions {
  profile?: string;
  defaultResources?: string;
}

/** Add `--profile` and `--default-resources` to a command. */
export function addResourceOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--profile <file>',
        'run profile (JSON, schemas/profile.schema.json): resource defaults and cores for this run',
      ),
    )
    .addOption(
      new Option(
        '--default-resources <list>',
        'resource defaults of every node, over the workflow\'s and the profile\'s: "cpus=2,mem=4G,time=1h"',
      ),
    );
}

/** The run's resource layers (profile, then flags) and the cores a profile sets, from the parsed options. */
export async function runResourceSettings(
  options: ResourceCliOptions,
): Promise<{ layers: ResourceLayer[]; profileCores: number | undefined }> {
  const layers: ResourceLayer[] = [];
  let profileCores: number | undefined;
  if (options.profile !== undefined) {
    const profile = await loadProfile(options.profile);
    if (profile.resources !== undefined) layers.push(profile.resources);
    profileCores = profile.cores;
  }
  if (options.defaultResources !== undefined) layers.push(parseResourceFlags(options.defaultResources));
  return { layers, profileCores };
}
