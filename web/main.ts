/**
 * The run-graph web page: served at `/` by `serve` and `run --serve`, or
 * inlined with its data in a `report` file. It draws the workflow's graph,
 * the counts, elapsed time and ETA, a timeline, and a panel per node, and
 * follows a live run through its event stream.
 */
import './style.css';
import type { ReportData } from '../src/views/web/types.js';
import { VIEW_STATES } from '../src/views/web/types.js';
import { formatDuration, h, replaceChildren } from './dom.js';
import { GraphView } from './graph-view.js';
import { RunModel } from './model.js';
import { NodePanel } from './panel.js';
import { ApiFailure, AuthError, EmbeddedSource, HttpSource, type DataSource } from './source.js';
import { Timeline } from './timeline.js';

const TOKEN_KEY = 'run-graph-token';

function root(): HTMLElement {
  const app = document.getElementById('app');
  if (app === null) throw new Error('the page has no #app element');
  return app;
}

/** Ask for the token; resolves once the server accepts one. */
function askToken(error: string | undefined): Promise<HttpSource> {
  return new Promise((resolve) => {
    const input = h('input', {
      type: 'password',
      name: 'token',
      autocomplete: 'off',
      'aria-label': 'token',
      size: '40',
    });
    const message = h('p', { class: 'error', role: 'alert', id: 'token-error' }, error ?? '');
    if (error === undefined) message.hidden = true;
    const form = h(
      'form',
      { class: 'token' },
      h('h1', {}, 'run-graph'),
      h(
        'p',
        {},
        'This server needs a token. It is kept in this tab only (session storage) and sent as a bearer token.',
      ),
      input,
      h('button', { type: 'submit' }, 'Open'),
      message,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const token = input.value.trim();
      const source = new HttpSource(token);
      source
        .check()
        .then(() => {
          sessionStorage.setItem(TOKEN_KEY, token);
          resolve(source);
        })
        .catch((failure: unknown) => {
          message.hidden = false;
          message.textContent =
            failure instanceof AuthError
              ? `The server refused this token: ${failure.message}. Check it and try again.`
              : `Cannot reach the server: ${String(failure)}`;
        });
    });
    replaceChildren(root(), form);
    input.focus();
  });
}

async function liveSource(): Promise<HttpSource> {
  const kept = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  const source = new HttpSource(kept);
  try {
    await source.check();
    return source;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    sessionStorage.removeItem(TOKEN_KEY);
    return askToken(kept === undefined ? undefined : `The kept token was refused: ${error.message}.`);
  }
}

function embeddedData(): ReportData | undefined {
  const element = document.getElementById('run-graph-report');
  return element === null ? undefined : (JSON.parse(element.textContent ?? '{}') as ReportData);
}

class App {
  readonly #source: DataSource;
  readonly #model = new RunModel();
  readonly #graph: GraphView;
  readonly #timeline = new Timeline();
  readonly #panel: NodePanel;
  readonly #counts = h('div', { class: 'counts', id: 'counts' });
  readonly #clock = h('div', { class: 'clock', id: 'clock' });
  readonly #status = h('span', { class: 'status', id: 'live-status' });
  readonly #expanded = h('div', { class: 'expanded' });
  #dirty = new Set<number>();
  #relayout = false;
  #frame = 0;
  #reload: number | undefined;
  #laidOut = -1;

  constructor(source: DataSource) {
    this.#source = source;
    this.#panel = new NodePanel(source);
    this.#graph = new GraphView(
      this.#model,
      (i) => {
        const node = this.#model.nodes[i];
        if (node !== undefined) void this.#panel.show(node);
      },
      () => this.#drawExpanded(),
    );
  }

  async start(): Promise<void> {
    const title = h('h1', {}, 'run-graph');
    const header = h('header', {}, title, this.#status, this.#counts, this.#clock);
    const notes = this.#source.notes.map((n) => h('p', { class: 'note report-note' }, n));
    const tabs = h('div', { class: 'tabs' });
    const graphPane = h('div', { class: 'pane graph-pane' }, this.#expanded, this.#graph.element);
    const timelinePane = h('div', { class: 'pane timeline-pane', hidden: '' }, this.#timeline.element);
    for (const [name, pane] of [
      ['Graph', graphPane],
      ['Timeline', timelinePane],
    ] as const) {
      const button = h('button', { type: 'button', 'data-tab': name.toLowerCase() }, name);
      button.addEventListener('click', () => {
        graphPane.hidden = pane !== graphPane;
        timelinePane.hidden = pane !== timelinePane;
        if (pane === graphPane) this.#graph.fit();
        else this.#timeline.draw(this.#model.nodes, Date.now());
      });
      tabs.append(button);
    }
    const fit = h('button', { type: 'button', class: 'fit', title: 'show the whole graph' }, 'Fit');
    fit.addEventListener('click', () => this.#graph.fit());
    tabs.append(fit);
    const main = h('main', {}, h('div', { class: 'left' }, tabs, graphPane, timelinePane), this.#panel.element);
    replaceChildren(root(), header, ...notes, main);
    const snapshot = await this.#source.snapshot();
    this.#model.load(snapshot);
    title.textContent = `run-graph${snapshot.file === null ? '' : ` · ${snapshot.file}`}`;
    this.#status.textContent =
      this.#source.kind === 'report' ? `report of ${new Date(snapshot.generatedAt).toLocaleString()}` : 'connecting';
    this.#graph.relayout();
    this.#laidOut = this.#model.structureVersion;
    this.#drawHeader();
    document.body.dataset['ready'] = 'true';
    document.body.dataset['layoutMs'] = this.#graph.lastLayoutMs.toFixed(0);
    this.#source.follow?.(
      (event) => {
        const changed = this.#model.apply(event);
        if (changed.includes(-1)) this.#relayout = true;
        for (const i of changed) if (i >= 0) this.#dirty.add(i);
        // A loop added nodes the workflow file does not list: read the snapshot again, soon.
        if (event.type === 'nodes-added' || event.type === 'run-finished') this.#reloadSoon();
        this.#schedule();
      },
      (status) => {
        // After the run's end, `run --serve` stops its server: say that rather than "reconnecting".
        if (status !== 'live' && this.#model.runFinishedAt !== undefined)
          status = 'run finished; the server has stopped';
        this.#status.textContent = status;
        this.#status.dataset['status'] = status;
      },
    );
    setInterval(() => this.#drawHeader(), 1000);
  }

  #reloadSoon(): void {
    if (this.#reload !== undefined) return;
    this.#reload = window.setTimeout(() => {
      this.#reload = undefined;
      void this.#source.snapshot().then((snapshot) => {
        this.#model.load(snapshot);
        this.#relayout = true;
        this.#schedule();
      });
    }, 1000);
  }

  #schedule(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      if (this.#relayout || this.#laidOut !== this.#model.structureVersion) {
        this.#relayout = false;
        this.#laidOut = this.#model.structureVersion;
        this.#graph.relayout();
      } else {
        this.#graph.update([...this.#dirty]);
      }
      this.#dirty.clear();
      this.#drawHeader();
      const shown = this.#panel.label === undefined ? undefined : this.#model.byLabel.get(this.#panel.label);
      const node = shown === undefined ? undefined : this.#model.nodes[shown];
      if (node !== undefined && this.#panel.element.querySelector(`[data-node-state="${node.state}"]`) === null)
        void this.#panel.show(node);
    });
  }

  #drawExpanded(): void {
    const chips = [...this.#model.expanded].map((key) => {
      const chip = h('button', { type: 'button', class: 'chip', title: 'collapse' }, `${key} ×`);
      chip.addEventListener('click', () => {
        this.#graph.collapse(key);
        this.#drawExpanded();
      });
      return chip;
    });
    replaceChildren(this.#expanded, ...(chips.length === 0 ? [] : ['expanded: ', ...chips]));
  }

  #drawHeader(): void {
    const counts = this.#model.counts();
    replaceChildren(
      this.#counts,
      h('span', { class: 'total' }, `${counts.total} nodes`),
      ...VIEW_STATES.filter((s) => counts[s] > 0).map((s) =>
        h('span', { class: `chip state-${s}`, 'data-count': s }, `${counts[s]} ${s}`),
      ),
    );
    const now = Date.now();
    const starts = this.#model.nodes
      .map((n) => (n.startedAt === undefined ? NaN : Date.parse(n.startedAt)))
      .filter(Number.isFinite);
    const start = this.#model.runStartedAt ?? (starts.length > 0 ? Math.min(...starts) : undefined);
    const running = counts.running > 0 && this.#model.runFinishedAt === undefined;
    let end = this.#model.runFinishedAt ?? now;
    if (this.#source.kind === 'report' || !running) {
      const ends = this.#model.nodes
        .map((n) =>
          n.startedAt === undefined || n.durationMs === undefined ? NaN : Date.parse(n.startedAt) + n.durationMs,
        )
        .filter(Number.isFinite);
      if (this.#model.runFinishedAt === undefined && ends.length > 0) end = Math.max(...ends);
    }
    const elapsed = start === undefined ? undefined : end - start;
    const remaining = counts.total - counts.committed - counts.failed;
    let eta = '—';
    if (running && start !== undefined && this.#model.doneInRun > 0 && remaining > 0) {
      eta = formatDuration(((now - start) / this.#model.doneInRun) * remaining);
    } else if (remaining === 0) {
      eta = 'done';
    }
    this.#clock.textContent = `elapsed ${elapsed === undefined ? '—' : formatDuration(elapsed)} · ETA ${eta}`;
    this.#clock.title = 'ETA: the nodes left at the rate nodes have finished so far in this run';
  }
}

async function boot(): Promise<void> {
  const data = embeddedData();
  try {
    const source: DataSource = data !== undefined ? new EmbeddedSource(data) : await liveSource();
    await new App(source).start();
  } catch (error) {
    const message =
      error instanceof ApiFailure
        ? `${error.status}: ${error.message}`
        : error instanceof Error
          ? error.message
          : String(error);
    replaceChildren(root(), h('p', { class: 'error', role: 'alert' }, `The page could not load: ${message}`));
  }
}

void boot();
