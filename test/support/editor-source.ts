/**
 * The node definitions and dialog templates as the editor gets them, without a browser: the shared
 * editor code (resources/binance-editor.js) and the nodes' .html scripts run in a VM context whose
 * `document` holds the dialog templates and whose `RED.nodes.registerType` records what is registered.
 * The browser test (test/e2e/editor.e2e.test.ts) runs the same files in a real editor.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';

export const RESOURCE = 'resources/binance-editor.js';
/** The URL a node's .html loads the shared editor code from (relative: the editor's admin root applies). */
export const RESOURCE_URL = 'resources/node-red-contrib-binance-user-stream/binance-editor.js';

export interface EditorNode {
  /** The dialog template with the shared rows in place (what the editor's dialog shows). */
  template: string;
  /** What the node's script passed to RED.nodes.registerType. */
  definition: {
    category?: string;
    defaults: Record<string, { value: unknown; type?: string; required?: boolean; validate?: (v: unknown, opt?: unknown) => unknown }>;
    paletteLabel?: (this: unknown) => string;
    label?: (this: unknown) => string;
    labelStyle?: (this: unknown) => string;
    type?: string;
    [k: string]: unknown;
  };
}

const root = path.resolve(__dirname, '..', '..', '..');

/** Runs the shared code and then each node file's scripts, in order, as the editor does. */
export function loadEditor(resourceJs: string, htmls: string[]): Map<string, EditorNode> {
  const templates: Array<{ type: string; textContent: string }> = [];
  const definitions = new Map<string, EditorNode['definition']>();
  const window: Record<string, unknown> = {};
  const context = vm.createContext({
    window,
    document: {
      querySelectorAll: (selector: string) => templates.filter((t) => selector === `script[data-template-name="${t.type}"]`),
    },
    // as the editor's registry does: the definition gets its type
    RED: { nodes: { registerType: (type: string, def: EditorNode['definition']) => definitions.set(type, Object.assign(def, { type })) } },
  });
  vm.runInContext(resourceJs, context, { filename: RESOURCE });
  (context as Record<string, unknown>).BinanceUserStreamEditor = window.BinanceUserStreamEditor;
  const scripts: string[] = [];
  for (const html of htmls) {
    for (const m of html.matchAll(/<script type="text\/html" data-template-name="([^"]+)">([\s\S]*?)<\/script>/g)) templates.push({ type: m[1], textContent: m[2] });
    for (const m of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) scripts.push(m[1]);
  }
  for (const s of scripts) vm.runInContext(s, context);
  const out = new Map<string, EditorNode>();
  for (const t of templates) {
    const definition = definitions.get(t.type);
    if (definition) out.set(t.type, { template: t.textContent, definition });
  }
  return out;
}

/** The repository's node files, loaded with the repository's shared editor code. */
export function loadRepositoryEditor(types: string[]): Map<string, EditorNode> {
  const read = (rel: string): string => fs.readFileSync(path.join(root, rel), 'utf8');
  return loadEditor(
    read(RESOURCE),
    types.map((t) => read(`nodes/${t}.html`)),
  );
}

/** The catalog keys a definition's palette label and label functions ask for (for a node with and without a name). */
export function labelKeys(def: EditorNode['definition']): string[] {
  const keys: string[] = [];
  const self = (n: Record<string, unknown>): unknown => ({ type: def.type, ...n, _: (k: string) => (keys.push(k), k) });
  for (const n of [{}, { name: 'x' }]) {
    def.paletteLabel?.call(self(n));
    def.label?.call(self(n));
  }
  return keys;
}
