/**
 * The editor's "Test connection" button: POST /binance-user-stream/test-connection (permission
 * binance-account.write) runs the core's checkKey (lib/account/key-check.ts) with the dialog's
 * settings; saved credentials fill the fields left unchanged, and are only sent to the server the
 * account was deployed with.
 */
import type { Node, NodeAPI } from 'node-red';
import { checkKey, type AccountSettings } from '../lib/account';
import type { CredentialsInput } from '../lib/exchange/credentials';
import { isAccountHandle } from './account-contract';
import { mergeCredentials } from './account-settings';

export function registerTestConnection(RED: NodeAPI): void {
RED.httpAdmin.post('/binance-user-stream/test-connection', RED.auth.needsPermission('binance-account.write'), (req, res) => {
  const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
  const id = typeof body.id === 'string' && body.id !== '' ? body.id : undefined;
  let saved: CredentialsInput | undefined;
  let deployedRestUrl: string | null = null;
  if (id) {
    try {
      saved = (RED.nodes.getCredentials(id) as CredentialsInput | undefined) ?? undefined;
    } catch {
      saved = undefined;
    }
    const n = RED.nodes.getNode(id) as unknown;
    if (isAccountHandle(n)) {
      const dn = n as unknown as Node<CredentialsInput> & { deployedRestUrl?: string };
      saved ??= dn.credentials;
      deployedRestUrl = dn.deployedRestUrl ?? null;
    }
  }
  const { creds, usedSaved } = mergeCredentials(body.credentials, saved);
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const settings: AccountSettings = {
    market: str(body.market),
    symbol: str(body.symbol),
    environment: str(body.environment),
    restUrl: str(body.restUrl),
    wsUrl: str(body.wsUrl),
    keyType: str(body.keyType),
    recvWindowMs: str(body.recvWindow) ?? (typeof body.recvWindow === 'number' ? body.recvWindow : undefined),
    credentials: creds,
  };
  void checkKey(settings, { savedRestUrl: usedSaved ? deployedRestUrl : undefined }).then((r) => res.json(r));
});
}
