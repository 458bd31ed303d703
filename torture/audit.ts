/**
 * Checks of a working directory and an execution log after a tortured run:
 * the promises a crash must never break.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isUid } from '#dist/identity/fingerprint.js';
import { verifyStore } from '#dist/store/data-store.js';
import { isCommitted, readStoreMetadata } from '#dist/store/metadata.js';

interface LogLine {
  event: 'start' | 'commit' | 'exec';
  label: string;
}

export interface ExecutionCounts {
  /** Executions started, per label (engine starts). */
  starts: Map<string, number>;
  commits: Map<string, number>;
}

/** Parse the execution log and check: nothing executes after it committed; nothing commits twice. Returns problems. */
export async function auditExecutionLog(path: string): Promise<{ problems: string[]; counts: ExecutionCounts }> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const committed = new Set<string>();
  const counts: ExecutionCounts = { starts: new Map(), commits: new Map() };
  const problems: string[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const entry = JSON.parse(line) as LogLine;
    if ((entry.event === 'start' || entry.event === 'exec') && committed.has(entry.label)) {
      problems.push(`line ${index + 1}: '${entry.label}' executed again after it was committed`);
    }
    if (entry.event === 'start') counts.starts.set(entry.label, (counts.starts.get(entry.label) ?? 0) + 1);
    if (entry.event === 'commit') {
      if (committed.has(entry.label)) problems.push(`line ${index + 1}: '${entry.label}' committed twice`);
      committed.add(entry.label);
      counts.commits.set(entry.label, (counts.commits.get(entry.label) ?? 0) + 1);
    }
  }
  return { problems, counts };
}

/**
 * Artifact sha256s of the graph's committed stores, by `label.output`: what
 * "the same outputs" means across working directories (and across workflows
 * whose records differ only where they name a log file).
 */
// Structural: a graph built from src/ (tests) or from dist/ (the torture run) fits.
export async function committedOutputs(
  workdir: string,
  graph: { readonly nodes: readonly { readonly uid: string; readonly label: string }[] },
): Promise<Map<string, string>> {
  const outputs = new Map<string, string>();
  for (const node of graph.nodes) {
    const metadata = await readStoreMetadata(join(workdir, node.uid));
    if (metadata?.state !== 'committed') continue;
    for (const [output, artifact] of Object.entries(metadata.artifacts))
      outputs.set(`${node.label}.${output}`, artifact.sha256);
  }
  return outputs;
}

/**
 * Committed stores whose record reads from a store that is not committed:
 * what no moment of a run may show, killed or not, since a node may start on
 * the artifacts of one still committing but commits only after it.
 */
export async function auditCommittedUpstreams(workdir: string): Promise<string[]> {
  const problems: string[] = [];
  // A run killed before it made the directory left nothing to check.
  const names = (await readdir(workdir).catch(() => [] as string[])).filter(isUid);
  const committed = new Set<string>();
  const depends = new Map<string, readonly string[]>();
  for (const name of names) {
    const metadata = await readStoreMetadata(join(workdir, name));
    if (!isCommitted(metadata)) continue;
    committed.add(name);
    depends.set(name, metadata.record.depends);
  }
  // A loop's iterations also name uids of a scope, which have no store: only a store that is there counts.
  const present = new Set<string>(names);
  for (const [name, upstream] of depends)
    for (const uid of upstream)
      if (present.has(uid) && !committed.has(uid))
        problems.push(`store ${name} is committed, but ${uid}, which it reads from, is not`);
  return problems;
}

/**
 * Problems with a working directory that a finished run must not leave: uncommitted stores, locks, staging entries,
 * temp files, a committed store reading from one that is not.
 */
export async function auditWorkdir(workdir: string): Promise<string[]> {
  const problems: string[] = await auditCommittedUpstreams(workdir);
  const tmp = await readdir(join(workdir, 'tmp')).catch(() => [] as string[]);
  if (tmp.length > 0) problems.push(`tmp/ still holds ${tmp.join(', ')}`);
  for (const name of (await readdir(workdir)).filter(isUid)) {
    const storeDir = join(workdir, name);
    const metadata = await readStoreMetadata(storeDir);
    if (metadata?.state !== 'committed') problems.push(`store ${name} is not committed`);
    const entries = await readdir(storeDir);
    if (entries.includes('lock')) problems.push(`store ${name} still has a lock`);
    const leftovers = entries.filter((e) => e.startsWith('.rg-tmp-'));
    if (leftovers.length > 0) problems.push(`store ${name} has temp files ${leftovers.join(', ')}`);
    if (isCommitted(metadata)) {
      // Every artifact (a stream's chunks one by one) present, with its recorded size and sha256.
      const problem = await verifyStore(storeDir, metadata, 'checksum');
      if (problem !== undefined) problems.push(`store ${name}: ${problem}`);
    }
  }
  return problems;
}
