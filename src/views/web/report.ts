/**
 * `run-graph report`: the web page's view of a working directory as one
 * HTML file, data embedded. Bounded whatever the working directory holds:
 * each preview is the first chunk of an artifact (at most `previewBytes`),
 * all previews together at most `totalPreviewBytes`, and details for at most
 * `detailNodes` nodes; what was left out is listed for the page to say. A
 * node not committed (failed, running) has its latest attempt's logs, each
 * stream's end, counted in the previews' total.
 */
import type { Uid } from '../../identity/fingerprint.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { chunkLayout, chunkSpan } from '../browse/chunk-layout.js';
import { openLocalGraph, type LocalGraph } from '../browse/local-graph.js';
import type { ArtifactInfo } from '../browse/types.js';
import { viewExplanation, viewLogs, viewSnapshot } from './snapshot.js';
import type { PreviewChunk, ReportData, ReportNodeDetail, ViewNode } from './types.js';

export interface ReportLimits {
  /** Default 64 KiB. */
  previewBytes?: number;
  /** Default 8 MiB. */
  totalPreviewBytes?: number;
  /** Default 2000. */
  detailNodes?: number;
  /** Nodes whose `explain` is embedded (each reads the store index and walks the graph). Default 50. */
  explainNodes?: number;
}

/** The first chunk of an artifact, at most `limit` bytes, or undefined when it has none that fits. */
async function firstChunk(
  local: LocalGraph,
  uid: Uid,
  info: ArtifactInfo,
  limit: number,
): Promise<PreviewChunk | undefined> {
  if (info.kind === 'stream' || info.size === 0) return undefined;
  const span = chunkSpan(info, chunkLayout(info, limit), 0);
  if (span === undefined) return undefined;
  // One row wider than the limit makes a chunk past it: no preview rather than a big one.
  if (span.end - span.start > limit) return undefined;
  const artifact = await local.openArtifact(uid, info.output);
  try {
    const bytes = Buffer.alloc(span.end - span.start);
    await artifact.handle.read(bytes, 0, bytes.length, span.start);
    const array =
      info.array !== undefined && span.rows !== undefined && span.shape !== undefined && info.dtype !== undefined
        ? { rows: span.rows, shape: span.shape, dtype: info.dtype, littleEndian: info.array.littleEndian }
        : {};
    return { output: info.output, base64: bytes.toString('base64'), ...array };
  } finally {
    await artifact.handle.close();
  }
}

/** Everything a report of `graph` in `workdir` embeds. */
export async function reportData(
  graph: ConcreteGraph,
  workdir: string,
  limits: ReportLimits = {},
): Promise<ReportData> {
  const previewBytes = limits.previewBytes ?? 64 * 1024;
  const totalPreviewBytes = limits.totalPreviewBytes ?? 8 * 1024 * 1024;
  const detailNodes = limits.detailNodes ?? 2000;
  const explainNodes = limits.explainNodes ?? 50;
  const snapshot = await viewSnapshot(graph, workdir);
  const local = await openLocalGraph(workdir, { graph });
  const details: { [uid: string]: ReportNodeDetail } = {};
  const omitted: string[] = [];
  let previewTotal = 0;
  let previewsLeftOut = 0;
  let explained = 0;
  // Nodes that did something first: those are what a reader opens.
  const order: ViewNode[] = [
    ...snapshot.nodes.filter((n) => n.state !== 'not-started'),
    ...snapshot.nodes.filter((n) => n.state === 'not-started'),
  ];
  for (const node of order.slice(0, detailNodes)) {
    if (details[node.uid] !== undefined) continue;
    const detail: ReportNodeDetail = { artifacts: [], previews: {} };
    if (node.state !== 'not-started' && node.state !== 'outdated') detail.info = await local.info(node.uid);
    if (explained < explainNodes) {
      detail.explanation = await viewExplanation(graph, node.label, workdir);
      explained++;
    }
    if (node.state === 'committed') {
      detail.artifacts = await local.artifacts(node.uid);
      for (const artifact of detail.artifacts) {
        const preview =
          previewTotal + previewBytes <= totalPreviewBytes
            ? await firstChunk(local, node.uid, artifact, previewBytes)
            : undefined;
        if (preview === undefined) {
          if (artifact.kind !== 'stream' && artifact.size > 0) previewsLeftOut++;
          continue;
        }
        previewTotal += Math.ceil((preview.base64.length * 3) / 4);
        detail.previews[artifact.output] = preview;
      }
    }
    if (node.state === 'failed' || node.state === 'incomplete' || node.state === 'running') {
      const logs = await viewLogs(graph, node.label, workdir);
      const bytes = logs === undefined ? 0 : (logs.stdout?.text.length ?? 0) + (logs.stderr?.text.length ?? 0);
      if (logs !== undefined && previewTotal + bytes <= totalPreviewBytes) {
        detail.logs = logs;
        previewTotal += bytes;
      } else if (logs !== undefined) previewsLeftOut++;
    }
    details[node.uid] = detail;
  }
  if (order.length > detailNodes)
    omitted.push(`details of ${order.length - detailNodes} of ${order.length} nodes (at most ${detailNodes} embedded)`);
  if (explained < order.length && explained === explainNodes)
    omitted.push(`explanations past the first ${explainNodes} nodes (run \`run-graph explain\` for those)`);
  if (previewsLeftOut > 0)
    omitted.push(
      `${previewsLeftOut} previews (each at most ${previewBytes} bytes, all together at most ${totalPreviewBytes})`,
    );
  return { snapshot, details, limits: { previewBytes, totalPreviewBytes, detailNodes }, omitted };
}
