/**
 * `RED._` for a node type's catalog, with a fallback to the en-US catalog beside the compiled node
 * files (dist/nodes/locales), for the test helper and keys the runtime does not know.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { interpolate, lookupCatalog } from './status';

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/**
 * `RED._` for the node type's catalog, falling back to `locales/en-US/<type>.json` when the runtime
 * has no translation (the test helper, or a key it does not know).
 */
export function makeTranslate(RED: NodeAPI, type: string): Translate {
  let catalog: unknown = {};
  try {
    catalog = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'locales', 'en-US', `${type}.json`), 'utf8')) as unknown;
  } catch {
    // no catalog beside the file: keys are returned as they are
  }
  return (key, vars = {}) => {
    let r: unknown;
    try {
      r = RED._(key, vars);
    } catch {
      r = undefined;
    }
    if (typeof r === 'string' && r !== '' && r !== key && !r.endsWith(`:${key}`)) return r;
    const local = lookupCatalog(catalog, key);
    return local !== undefined ? interpolate(local, vars) : key;
  };
}
