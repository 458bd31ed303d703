/**
 * The retry policy of a node: how many more attempts a failed execution
 * gets (`retries`) and how long to wait before each (`backoff`). It is
 * execution policy, not identity: it never enters a record or a uid, so
 * changing it re-runs nothing that has committed.
 *
 * A policy is written in three places, most specific first: on the node
 * (and on a subgraph use, map or loop, for the nodes it makes), in the
 * operation's definition (`defineOperation({retries, backoff})`), and in the
 * workflow's `"defaults"`. Each of the two settings is resolved on its own,
 * so a node may set `retries` and take its `backoff` from the defaults.
 *
 * The backoff is either one duration (the same wait before every retry) or
 * `{"delay", "factor", "max"}`: `delay` before the first retry, multiplied
 * by `factor` before each further one, never more than `max`.
 */
import { describeValue } from '../errors.js';

/** A duration as written: `"10s"`, `"1h30m"`, `"250ms"`, `"01:30:00"` (h:mm:ss or m:ss), or a number of seconds. */
export type DurationSpec = string | number;

/** The backoff as written: one duration, or a growing delay. */
export type BackoffSpec =
  | DurationSpec
  | {
      /** Wait before the first retry. */
      delay: DurationSpec;
      /** Each further wait is the previous one times this (at least 1). Default 2. */
      factor?: number;
      /** No wait is longer than this. Default: no limit. */
      max?: DurationSpec;
    };

/** The retry settings as written on a node, an operation or the workflow's defaults; each may be left out. */
export interface RetrySettings {
  /** Extra attempts after the first failed one: a non-negative integer. */
  retries?: number;
  backoff?: BackoffSpec;
}

/** The backoff resolved to seconds. */
export interface Backoff {
  readonly delaySeconds: number;
  readonly factor: number;
  readonly maxSeconds: number;
}

/** A node's resolved retry policy. */
export interface RetryPolicy {
  /** Extra attempts after the first: a node runs at most `retries + 1` times per run. */
  readonly retries: number;
  readonly backoff: Backoff;
}

/** Most retries a node may ask for: a guard against a typo such as 1000000. */
export const MAX_RETRIES = 100;

/** No retries. */
export const DEFAULT_RETRIES = 0;

/** The wait when retries are asked for and no backoff is: 1 s, doubling, at most 1 minute. */
export const DEFAULT_BACKOFF: Backoff = { delaySeconds: 1, factor: 2, maxSeconds: 60 };

/** What a bad setting is reported as: the caller decides the error code and where it was (file, node, operation). */
export type PolicyProblem = (field: string, message: string, value: unknown) => Error;

const UNITS: { readonly [unit: string]: number } = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const UNIT_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const UNIT_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const CLOCK_DURATION = /^(?:(\d+):)?(\d+):(\d{2})$/;

/** A duration in seconds, or undefined when the value is not one. */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (UNIT_DURATION.test(text)) {
    let seconds = 0;
    for (const [, amount, unit] of text.matchAll(UNIT_PART)) seconds += Number(amount) * (UNITS[unit as string] ?? 0);
    return seconds;
  }
  const clock = CLOCK_DURATION.exec(text);
  if (clock !== null) {
    const [, hours, minutes, seconds] = clock;
    return Number(hours ?? 0) * 3600 + Number(minutes) * 60 + Number(seconds);
  }
  return undefined;
}

function duration(value: unknown, field: string, problem: PolicyProblem): number {
  const seconds = durationSeconds(value);
  if (seconds === undefined)
    throw problem(
      field,
      `${field}: expected a duration such as "10s", "1h30m", "01:30:00" or a number of seconds, got ${describeValue(value)}`,
      value,
    );
  return seconds;
}

/** Check `retries`; returns it. */
export function checkRetries(value: unknown, field: string, problem: PolicyProblem): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_RETRIES)
    throw problem(
      field,
      `${field}: expected a whole number of extra attempts from 0 to ${MAX_RETRIES}, got ${describeValue(value)}`,
      value,
    );
  return value;
}

/** Check a backoff as written and resolve it to seconds. */
export function parseBackoff(value: unknown, field: string, problem: PolicyProblem): Backoff {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const given = value as Record<string, unknown>;
    for (const key of Object.keys(given)) {
      if (key !== 'delay' && key !== 'factor' && key !== 'max')
        throw problem(`${field}.${key}`, `${field}: unknown property '${key}'; a backoff has delay, factor, max`, key);
    }
    if (given['delay'] === undefined)
      throw problem(`${field}.delay`, `${field}: missing required property 'delay'`, undefined);
    const delaySeconds = duration(given['delay'], `${field}.delay`, problem);
    const factor = given['factor'] ?? DEFAULT_BACKOFF.factor;
    if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1)
      throw problem(
        `${field}.factor`,
        `${field}.factor: expected a number of at least 1, got ${describeValue(factor)}`,
        factor,
      );
    const maxSeconds = given['max'] === undefined ? Infinity : duration(given['max'], `${field}.max`, problem);
    return { delaySeconds, factor, maxSeconds };
  }
  const seconds = duration(value, field, problem);
  return { delaySeconds: seconds, factor: 1, maxSeconds: seconds };
}

/**
 * Check the retry settings of one place (a node, an operation definition,
 * the defaults): anything set must be valid. `prefix` is prepended to the
 * field names in messages (`defaults.`).
 */
export function checkRetrySettings(settings: RetrySettings, prefix: string, problem: PolicyProblem): void {
  if (settings.retries !== undefined) checkRetries(settings.retries, `${prefix}retries`, problem);
  if (settings.backoff !== undefined) parseBackoff(settings.backoff, `${prefix}backoff`, problem);
}

/**
 * Resolve a node's policy from the places it may be written, most specific
 * first; each setting is taken from the first place that has it. The places
 * have been checked already (`checkRetrySettings`), so nothing throws here.
 */
export function resolveRetryPolicy(places: readonly (RetrySettings | undefined)[]): RetryPolicy {
  const unreachable: PolicyProblem = (field, message) => new Error(`unchecked retry setting ${field}: ${message}`);
  const retries = places.find((place) => place?.retries !== undefined)?.retries ?? DEFAULT_RETRIES;
  const backoff = places.find((place) => place?.backoff !== undefined)?.backoff;
  return {
    retries: checkRetries(retries, 'retries', unreachable),
    backoff: backoff === undefined ? DEFAULT_BACKOFF : parseBackoff(backoff, 'backoff', unreachable),
  };
}

/** The wait in seconds before retry number `retry` (1 for the first retry). */
export function backoffSeconds(backoff: Backoff, retry: number): number {
  return Math.min(backoff.maxSeconds, backoff.delaySeconds * backoff.factor ** Math.max(0, retry - 1));
}

/** The settings of a place, without anything else it holds. */
export function retrySettingsOf(place: RetrySettings): RetrySettings {
  return {
    ...(place.retries === undefined ? {} : { retries: place.retries }),
    ...(place.backoff === undefined ? {} : { backoff: place.backoff }),
  };
}
