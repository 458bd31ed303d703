/**
 * Parsing resources as a workflow, a profile or `--default-resources`
 * writes them, and stacking the layers into one node's resources.
 */
import { describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import {
  formatDuration,
  parseMemory,
  parseResourceFlags,
  parseResources,
  parseTime,
  resolveResources,
  slurmMemory,
  slurmTimeLimit,
} from '../../src/operations/resources.js';

const where = { file: 'wf.json', node: 'sim' };

function failure(fn: () => unknown): RunGraphError {
  try {
    fn();
  } catch (error) {
    if (error instanceof RunGraphError) return error;
    throw error;
  }
  throw new Error('expected a RunGraphError');
}

describe('time', () => {
  it.each([
    [90, 90],
    [0.5, 0.5],
    ['90s', 90],
    ['45m', 2700],
    ['1h30m', 5400],
    ['2d', 172_800],
    ['1d2h3m4s', 93_784],
    ['30:00', 1800],
    ['01:30:00', 5400],
    ['2-00:00:00', 172_800],
    ['2-12', 216_000],
    ['1-02:03', 93_780],
  ])('%j is %d seconds', (given, seconds) => {
    expect(parseTime(given, where, 'resources.time')).toBe(seconds);
  });

  it.each([['30'], [''], ['1h 30m'], ['soon'], [0], [-5], ['0s'], [null]])('%j is refused', (given) => {
    const error = failure(() => parseTime(given, where, 'resources.time'));
    expect(error.code).toBe('E_RESOURCES');
    expect(error.location).toEqual({ file: 'wf.json', node: 'sim', field: 'resources.time' });
  });

  it('says why a bare number in a string is refused', () => {
    expect(failure(() => parseTime('30', where, 'resources.time')).hint).toMatch(/"30m" or 30 for seconds/);
  });
});

describe('memory', () => {
  it.each([
    ['512M', 512 * 1024 ** 2],
    ['4G', 4 * 1024 ** 3],
    ['4GB', 4 * 1024 ** 3],
    ['4GiB', 4 * 1024 ** 3],
    ['1.5t', 1.5 * 1024 ** 4],
    ['100K', 102_400],
  ])('%s is %d bytes', (given, bytes) => {
    expect(parseMemory(given, where, 'resources.memory')).toBe(bytes);
  });

  it.each([['4096'], [4096], ['4X'], ['0G'], ['-1G']])('%j is refused', (given) => {
    const error = failure(() => parseMemory(given, where, 'resources.memory'));
    expect(error.code).toBe('E_RESOURCES');
    expect(error.location.field).toBe('resources.memory');
  });
});

describe('parseResources', () => {
  it('reads every field', () => {
    expect(
      parseResources(
        {
          cpus: 4,
          memory: '8G',
          time: '2h',
          gpus: 1,
          slurm: { partition: 'long', account: 'proj', qos: 'high', constraint: 'avx2', options: ['--exclusive'] },
        },
        where,
        'resources',
      ),
    ).toEqual({
      cpus: 4,
      memoryBytes: 8 * 1024 ** 3,
      timeSeconds: 7200,
      gpus: 1,
      slurm: { partition: 'long', account: 'proj', qos: 'high', constraint: 'avx2', options: ['--exclusive'] },
    });
  });

  it.each([
    [{ cpus: 0 }, 'resources.cpus', /positive integer, got 0/],
    [{ cpus: 1.5 }, 'resources.cpus', /positive integer, got 1.5/],
    [{ gpus: -1 }, 'resources.gpus', /non-negative integer/],
    [{ cores: 2 }, 'resources.cores', /unknown field 'cores'/],
    [{ slurm: { partition: '' } }, 'resources.slurm.partition', /non-empty string/],
    [{ slurm: { options: '--exclusive' } }, 'resources.slurm.options', /list of non-empty strings/],
    [{ slurm: { nodes: 2 } }, 'resources.slurm.nodes', /unknown option 'nodes'/],
  ])('%j is refused naming %s', (given, field, message) => {
    const error = failure(() => parseResources(given, where, 'resources'));
    expect(error.code).toBe('E_RESOURCES');
    expect(error.location.field).toBe(field);
    expect(error.message).toMatch(message);
  });
});

describe('parseResourceFlags', () => {
  it('reads the Snakemake form', () => {
    expect(parseResourceFlags('cpus=2,mem=4G,time=1h')).toEqual({
      cpus: 2,
      memoryBytes: 4 * 1024 ** 3,
      timeSeconds: 3600,
    });
    expect(parseResourceFlags('mem_mb=1000,runtime=30,partition=short')).toEqual({
      memoryBytes: 1000 * 1024 ** 2,
      timeSeconds: 1800,
      slurm: { partition: 'short' },
    });
  });

  it('refuses an unknown key or a missing value, naming the flag', () => {
    const unknown = failure(() => parseResourceFlags('cores=2'));
    expect(unknown.location.field).toBe('--default-resources cores');
    expect(failure(() => parseResourceFlags('cpus')).message).toMatch(/key=value/);
    expect(failure(() => parseResourceFlags('cpus=two')).location.field).toBe('--default-resources.cpus');
  });
});

describe('resolveResources', () => {
  it('takes each field from the most specific layer that sets it', () => {
    const resolved = resolveResources([
      { cpus: 2, memoryBytes: 100, slurm: { partition: 'a', account: 'x' } },
      undefined,
      { timeSeconds: 60, slurm: { partition: 'b' } },
      { cpus: 8 },
    ]);
    expect(resolved).toEqual({
      cpus: 8,
      memoryBytes: 100,
      timeSeconds: 60,
      gpus: 0,
      slurm: { partition: 'b', account: 'x' },
    });
  });

  it('defaults to one cpu and no limits', () => {
    expect(resolveResources([])).toEqual({
      cpus: 1,
      memoryBytes: undefined,
      timeSeconds: undefined,
      gpus: 0,
      slurm: {},
    });
  });
});

describe('formats', () => {
  it('writes durations and Slurm forms', () => {
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(2)).toBe('2s');
    expect(slurmTimeLimit(93_784)).toBe('1-02:03:04');
    expect(slurmTimeLimit(0.2)).toBe('0-00:00:01');
    expect(slurmMemory(1.5 * 1024 ** 3)).toBe('1536M');
  });
});
