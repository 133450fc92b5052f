/**
 * A faithful `ITriggerFunctions` for driving the built trigger (n8n/dist) without an n8n, modelled
 * on n8n 2.40.7 (n8n-core TriggerContext, packages/cli trigger-execution-context.factory,
 * n8n-core triggers-and-pollers):
 *
 *  - parameters as n8n resolves them: the node's value, else the description's default;
 *  - the workflow's static data is n8n-workflow's real ObservableObject (a change marks
 *    `__dataChanged`), saved to `db` as n8n saves it: after activation and at every emit, not
 *    on deactivation;
 *  - manual mode as n8n runs it: after `trigger()` returns, emit/emitError are replaced by the
 *    ones that settle the manual run, and the run's end calls closeFunction;
 *  - emit / emitError / saveFailedExecution / logger record what they get.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { IDataObject, INode, INodeParameters, INodeExecutionData, INodeType, INodeTypeDescription, ITriggerFunctions, ITriggerResponse } from 'n8n-workflow';

const n8nRoot = path.resolve(__dirname, '..', '..', '..', 'n8n');
const n8nRequire = createRequire(path.join(n8nRoot, 'package.json'));
/** n8n-workflow as n8n loads it (the n8n package's own copy, the peer dependency). */
export const workflowLib = n8nRequire('n8n-workflow') as typeof import('n8n-workflow');

/** The built node, as n8n loads it from the package (dist/, bundled). */
export function loadTriggerType(): INodeType & { methods: { credentialTest: Record<string, (this: unknown, c: unknown) => Promise<{ status: string; message: string }>> } } {
  const mod = n8nRequire('./dist/nodes/BinanceUserStreamTrigger/BinanceUserStreamTrigger.node.js') as Record<string, new () => INodeType>;
  return new mod.BinanceUserStreamTrigger() as ReturnType<typeof loadTriggerType>;
}

export interface FakeOptions {
  parameters: IDataObject;
  credentials: IDataObject;
  mode?: 'trigger' | 'manual';
  /** The workflow's static data as stored in the database (JSON), shared across "restarts". */
  db?: { staticData: IDataObject };
  nodeName?: string;
}

export class TriggerHarness {
  /** One entry per emit: its outputs, each a list of items. */
  readonly emitted: INodeExecutionData[][][] = [];
  readonly errors: Error[] = [];
  readonly failedExecutions: Error[] = [];
  readonly logs: string[] = [];
  readonly db: { staticData: IDataObject };
  response?: ITriggerResponse;
  /** Manual mode: settles with the first emit (or rejects with emitError), as n8n's manual run. */
  manualResult?: Promise<INodeExecutionData[][]>;
  private readonly staticData: IDataObject & { __dataChanged?: boolean };
  private readonly ctx: ITriggerFunctions;
  private readonly node: INode;

  constructor(private readonly type: INodeType, private readonly opts: FakeOptions) {
    this.db = opts.db ?? { staticData: {} };
    this.staticData = workflowLib.ObservableObject.create(JSON.parse(JSON.stringify(this.db.staticData)) as IDataObject, undefined, {
      ignoreEmptyOnFirstChild: true,
    }) as IDataObject & { __dataChanged?: boolean };
    const name = opts.nodeName ?? 'Binance User Stream Trigger';
    this.node = { id: `node-${name}`, name, type: 'CUSTOM.binanceUserStreamTrigger', typeVersion: 1, position: [0, 0], parameters: opts.parameters as INodeParameters };
    const desc = type.description as INodeTypeDescription;
    const record = (level: string) => (m: string) => this.logs.push(`${level} ${m}`);
    this.ctx = {
      getNode: () => this.node,
      getMode: () => opts.mode ?? 'trigger',
      getActivationMode: () => 'activate',
      getNodeParameter(name: string, fallback?: unknown) {
        if (Object.prototype.hasOwnProperty.call(opts.parameters, name)) return opts.parameters[name];
        const prop = desc.properties.find((p) => p.name === name);
        return prop !== undefined ? structuredClone(prop.default) : fallback;
      },
      getCredentials: async () => structuredClone(opts.credentials),
      getWorkflowStaticData: (type: string) => {
        const key = type === 'global' ? 'global' : `node:${name}`;
        if (this.staticData[key] === undefined) {
          this.staticData[key] = workflowLib.ObservableObject.create({}, this.staticData as never) as IDataObject;
        }
        return this.staticData[key] as IDataObject;
      },
      emit: (data: INodeExecutionData[][]) => {
        this.saveStaticData(); // n8n: saved (not awaited) when the trigger emits, before the run
        this.emitted.push(data);
      },
      emitError: (error: Error) => {
        this.errors.push(error);
      },
      saveFailedExecution: (error: Error) => {
        this.failedExecutions.push(error);
      },
      logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
      helpers: {},
    } as unknown as ITriggerFunctions;
  }

  /** n8n's activation: trigger(), then the static data is saved (and, in manual mode, the run waits). */
  async activate(): Promise<ITriggerResponse> {
    const trigger = this.type.trigger as (this: ITriggerFunctions) => Promise<ITriggerResponse>;
    this.response = await trigger.call(this.ctx);
    if ((this.opts.mode ?? 'trigger') === 'manual') {
      this.manualResult = new Promise((resolve, reject) => {
        this.ctx.emit = (data: INodeExecutionData[][]) => {
          this.emitted.push(data);
          resolve(data);
        };
        this.ctx.emitError = (error: Error) => {
          this.errors.push(error);
          reject(error);
        };
      });
      // the manual run ends with the first emit: n8n then closes the trigger
      this.manualResult.then(() => this.close(), () => this.close());
    }
    this.saveStaticData();
    return this.response;
  }

  async close(): Promise<void> {
    await this.response?.closeFunction?.();
  }

  /** The workflow's static data as the trigger changed it in memory (not necessarily saved yet). */
  memoryStaticData(): IDataObject {
    return JSON.parse(JSON.stringify(this.staticData)) as IDataObject;
  }

  /** The items' JSON of every emit, flattened. */
  items(): IDataObject[] {
    return this.emitted.flatMap((run) => run[0].map((i: INodeExecutionData) => i.json));
  }

  /** Everything that left the trigger, as text (for the secret scan). */
  everything(): string {
    return JSON.stringify([this.emitted, this.errors.map((e) => `${e.message} ${e.stack ?? ''}`), this.failedExecutions.map((e) => e.message), this.logs, this.db]);
  }

  private saveStaticData(): void {
    if (this.staticData.__dataChanged === true) {
      this.db.staticData = JSON.parse(JSON.stringify(this.staticData)) as IDataObject;
      this.staticData.__dataChanged = false;
    }
  }
}
