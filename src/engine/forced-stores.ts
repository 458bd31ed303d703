/**
 * The stores of forced nodes kept aside while those nodes are built again
 * (store/superseded.ts), and the events that say so: what a local run does
 * as it starts and ends, and what the Slurm controller's command does
 * around its jobs.
 */
import type { Uid } from '../identity/fingerprint.js';
import type { OwnerInfo } from '../store/owner.js';
import { settleSuperseded, supersedeStore } from '../store/superseded.js';
import type { WorkdirLayout } from '../store/workdir.js';
import type { GraphNode } from '../workflow/graph.js';
import type { EventListener } from './events.js';

/** Move the committed stores of the forced nodes aside, so they are built again. */
export async function supersedeForced(
  layout: WorkdirLayout,
  nodes: readonly GraphNode[],
  forced: ReadonlySet<Uid>,
  emit: EventListener,
): Promise<void> {
  for (const node of nodes) {
    if (forced.has(node.uid) && (await supersedeStore(layout, node.uid, node.label)))
      emit({ type: 'store-superseded', label: node.label, uid: node.uid });
  }
}

/** Drop the stores kept aside whose replacements committed; restore the others (after a failure or a kill). */
export async function settleForced(
  layout: WorkdirLayout,
  owner: OwnerInfo,
  nodes: readonly GraphNode[],
  emit: EventListener,
): Promise<void> {
  for (const settled of await settleSuperseded(layout, owner)) {
    if (settled.outcome !== 'restored') continue;
    const label = nodes.find((n) => n.uid === settled.uid)?.label ?? null;
    emit({ type: 'store-restored', label, uid: settled.uid });
  }
}
