/**
 * `run --dry-run`: what a run would do to each node of a graph and why,
 * from the explanations of `explain`, without writing anything (the working
 * directory need not exist, and is not created).
 */
import { assertNever } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import { workdirLayout } from '../store/workdir.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import { describeExplanation, explainAgainst, workdirStores, type Explanation } from './explain/explain.js';

/** What a run would do to one node. */
export type PlannedAction = 'run' | 'reuse' | 'wait';

export interface PlannedNode {
  label: string;
  uid: Uid;
  action: PlannedAction;
  /** Forced by `--force` or `--force-downstream`: built again although committed. */
  forced: boolean;
  explanation: Explanation;
}

function actionOf(explanation: Explanation, forced: boolean): PlannedAction {
  if (forced && explanation.verdict !== 'running') return 'run';
  switch (explanation.verdict) {
    case 'reused':
      return 'reuse';
    case 'running':
      return 'wait';
    case 'will-run':
      return 'run';
    default:
      return assertNever(explanation, 'explanation');
  }
}

/** The plan of a run of `graph` in `workdir`, node by node in graph order. */
export async function planRun(graph: ConcreteGraph, workdir: string, forced: ReadonlySet<Uid>): Promise<PlannedNode[]> {
  const layout = workdirLayout(workdir);
  const stores = await workdirStores(graph, layout);
  const plan: PlannedNode[] = [];
  for (const node of graph.nodes) {
    const explanation = await explainAgainst(graph, node, layout, stores);
    const isForced = forced.has(node.uid);
    plan.push({
      label: node.label,
      uid: node.uid,
      action: actionOf(explanation, isForced),
      forced: isForced,
      explanation,
    });
  }
  return plan;
}

/** The plan in plain words: a count, then each node that would run with its reasons, then those reused. */
export function describePlan(plan: readonly PlannedNode[], workdir: string): string[] {
  const running = plan.filter((p) => p.action === 'run');
  const waiting = plan.filter((p) => p.action === 'wait');
  const reused = plan.filter((p) => p.action === 'reuse');
  const lines = [
    `dry run: of ${plan.length} node${plan.length === 1 ? '' : 's'}, ${running.length} would run, ${reused.length} would be reused${waiting.length > 0 ? `, ${waiting.length} are running elsewhere` : ''}; nothing was written`,
  ];
  for (const p of [...running, ...waiting]) {
    if (p.forced && p.explanation.verdict === 'reused') {
      lines.push(
        `${p.label}: will run (forced).`,
        '  It is committed and unchanged; it runs again because it was forced. Its store is kept aside until the new one commits.',
      );
      continue;
    }
    const described = describeExplanation(p.explanation, workdir);
    lines.push(...(p.forced ? described.map((line, i) => (i === 0 ? `${line} (forced)` : line)) : described));
  }
  if (reused.length > 0) lines.push(`reused: ${reused.map((p) => p.label).join(', ')}`);
  return lines;
}
