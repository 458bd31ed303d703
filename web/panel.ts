/**
 * The node panel: what a node is (operation, version, uid), its state and
 * timings, why it runs or is reused (`explain`), its subprocess logs (the
 * stdout and stderr artifacts) and previews of its other artifacts.
 */
import { formatDuration, h, replaceChildren } from './dom.js';
import type { PageNode } from './model.js';
import { renderPreview } from './preview.js';
import type { DataSource } from './source.js';
import type { ViewLogs } from '../src/views/web/types.js';

const LOG_OUTPUTS = new Set(['stdout', 'stderr']);

function row(name: string, value: string | Node | undefined): HTMLElement | undefined {
  return value === undefined ? undefined : h('tr', {}, h('th', {}, name), h('td', {}, value));
}

function when(iso: string | undefined): string | undefined {
  return iso === undefined ? undefined : new Date(iso).toLocaleString();
}

/** An unfinished attempt's logs: its heading and the end of each stream (its error is among the facts above). */
function attemptLogs(attempt: ViewLogs): HTMLElement[] {
  const out: HTMLElement[] = [
    h('p', { class: 'note', 'data-attempt': String(attempt.attempt) }, attempt.heading.replace(/^== /, '')),
  ];
  for (const name of ['stdout', 'stderr'] as const) {
    const text = attempt[name];
    if (text === undefined) continue;
    const shown = new TextEncoder().encode(text.text).length;
    const cut = shown < text.size ? ` (its last ${shown} of ${text.size} bytes)` : '';
    out.push(h('p', { class: 'note' }, `${name}${cut}`), h('pre', { class: 'text', 'data-log': name }, text.text));
  }
  return out;
}

export class NodePanel {
  readonly element: HTMLElement;
  readonly #source: DataSource;
  #showing: string | undefined;

  constructor(source: DataSource) {
    this.#source = source;
    this.element = h('aside', { class: 'panel', hidden: '' });
  }

  /** The label shown, if any. */
  get label(): string | undefined {
    return this.#showing;
  }

  close(): void {
    this.#showing = undefined;
    this.element.hidden = true;
  }

  async show(node: PageNode): Promise<void> {
    this.#showing = node.label;
    this.element.hidden = false;
    const close = h('button', { class: 'close', title: 'close', 'aria-label': 'close' }, '×');
    close.addEventListener('click', () => this.close());
    const elapsed =
      node.durationMs !== undefined
        ? formatDuration(node.durationMs)
        : node.state === 'running' && node.startedAt !== undefined
          ? `${formatDuration(Date.now() - Date.parse(node.startedAt))} so far`
          : undefined;
    const facts = h(
      'table',
      { class: 'facts' },
      row('operation', `${node.operation}${node.version === null ? '' : ` ${node.version}`}`),
      row('uid', h('code', {}, node.uid)),
      row('state', h('span', { class: `chip state-${node.state}`, 'data-node-state': node.state }, node.state)),
      row('progress', node.progress),
      row('outdated', node.outdated),
      row('error', node.error === undefined ? undefined : h('span', { class: 'error' }, node.error)),
      row('note', node.skipped),
      row('started', when(node.startedAt)),
      row('committed', when(node.committedAt)),
      row('duration', elapsed),
      row(
        'host',
        node.host === undefined ? undefined : `${node.host}${node.pid === undefined ? '' : ` (pid ${node.pid})`}`,
      ),
    );
    const explain = h(
      'section',
      { class: 'explain' },
      h('h3', {}, 'Why it runs or is reused'),
      h('p', { class: 'note' }, 'loading…'),
    );
    const logs = h('section', { class: 'logs' }, h('h3', {}, 'Logs'));
    const artifacts = h('section', { class: 'artifacts' }, h('h3', {}, 'Artifacts'));
    replaceChildren(this.element, close, h('h2', {}, node.label), facts, explain, logs, artifacts);
    const label = node.label;
    const still = (): boolean => this.#showing === label;

    void this.#source
      .explanation(label)
      .then((answer) => {
        if (!still()) return;
        replaceChildren(
          explain,
          h('h3', {}, 'Why it runs or is reused'),
          answer === undefined
            ? h('p', { class: 'note' }, 'not available')
            : h('pre', { class: 'text' }, answer.lines.join('\n')),
        );
      })
      .catch((error: unknown) => still() && explain.append(h('p', { class: 'error' }, String(error))));

    try {
      const list = node.state === 'committed' ? await this.#source.artifacts(node.uid) : undefined;
      if (!still()) return;
      if (list === undefined) {
        const why =
          node.state === 'committed' ? 'not available here' : 'none yet: outputs are readable once the node commits';
        artifacts.append(h('p', { class: 'note' }, why));
        // A running or failed attempt's logs are read where it writes them (its attempt directory).
        const attempt = node.state === 'committed' ? undefined : await this.#source.logs(label);
        if (!still()) return;
        if (attempt === undefined)
          logs.append(h('p', { class: 'note' }, node.state === 'committed' ? why : 'none yet'));
        else logs.append(...attemptLogs(attempt));
        return;
      }
      const isLog = (output: string): boolean => node.operation === 'scalems.Subprocess' && LOG_OUTPUTS.has(output);
      if (!list.some((a) => isLog(a.output)))
        logs.append(h('p', { class: 'note' }, 'this node keeps no subprocess logs'));
      if (!list.some((a) => !isLog(a.output))) artifacts.append(h('p', { class: 'note' }, 'no other outputs'));
      for (const info of list) {
        const target = isLog(info.output) ? logs : artifacts;
        const slot = h('div', { class: 'slot' }, h('p', { class: 'note' }, `${info.output}: loading…`));
        target.append(slot);
        void this.#source
          .preview(node.uid, info)
          .then((preview) => still() && replaceChildren(slot, renderPreview(preview)))
          .catch(
            (error: unknown) =>
              still() && replaceChildren(slot, h('p', { class: 'error' }, `${info.output}: ${String(error)}`)),
          );
      }
    } catch (error) {
      if (still()) artifacts.append(h('p', { class: 'error' }, String(error)));
    }
  }
}
