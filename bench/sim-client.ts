/**
 * Parent side of bench/sim-child: forks the simulator process and sends it requests over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { SimAccount, SimInfo, SimRequest } from './sim-child';

export class SimProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly info: SimInfo,
  ) {
    child.on('message', (m: unknown) => {
      const msg = m as { id?: number; ok?: boolean; result?: unknown; error?: string };
      if (typeof msg.id !== 'number') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error ?? 'simulator request failed'));
    });
    child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error('simulator process exited'));
      this.pending.clear();
    });
  }

  static async start(): Promise<SimProcess> {
    const child = fork(path.join(__dirname, 'sim-child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const info = await new Promise<SimInfo>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`simulator process exited (${code})`)));
      child.on('message', (m: unknown) => {
        const msg = m as { ready?: SimInfo };
        if (msg.ready) resolve(msg.ready);
      });
    });
    return new SimProcess(child, info);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  request<T>(req: SimRequest): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, req });
    });
  }

  setup(count: number, market: SimRequest & { cmd: 'setup' } extends { market: infer M } ? M : never = 'spot'): Promise<SimAccount[]> {
    return this.request<SimAccount[]>({ cmd: 'setup', count, market });
  }

  async stop(): Promise<void> {
    if (!this.child.connected) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    await this.request({ cmd: 'stop' }).catch(() => undefined);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (this.child.exitCode === null) this.child.kill();
  }
}
