/**
 * The picture source formats `graph` prints, in a module of their own so
 * that the command line can offer them as choices without loading the
 * renderer.
 */

/** Picture source formats `graph` prints. */
export type GraphFormat = 'mermaid' | 'dot';

/** Every format, for the command line's choices. */
export const GRAPH_FORMATS: readonly GraphFormat[] = ['mermaid', 'dot'];
