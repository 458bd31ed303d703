/**
 * The machine a benchmark ran on, without any of its paths or names: CPU
 * model and count, memory, Node version, OS, and the type of the file system
 * the working directories were on (`df -T`).
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, release, totalmem, type } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** `ext4`, `xfs`, `tmpfs`, ...; `unknown` when `df -T` is unavailable. */
  fileSystem: string;
}

/** File system type of the mount holding `dir`, from `df -T` (GNU coreutils). */
function fileSystemType(dir: string): string {
  const df = spawnSync('df', ['-T', dir], { encoding: 'utf8' });
  const line = df.status === 0 ? df.stdout.trim().split('\n')[1] : undefined;
  return line?.split(/\s+/)[1] ?? 'unknown';
}

export function describeMachine(dir: string): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${type()} ${release()}`,
    fileSystem: fileSystemType(dir),
  };
}

/** One line for the table's header and the README. */
export function machineLine(machine: MachineInfo): string {
  return `${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB RAM, Node ${machine.node}, ${machine.os}, ${machine.fileSystem}`;
}
