/**
 * *Binance API* credentials of the n8n package: the environment (a key works on one), the key and, by key type, the HMAC secret or the
 * Ed25519/RSA private key (PEM, optionally encrypted with a passphrase). Plain data: n8n stores it
 * encrypted. The credential test ("Test" in the credential dialog) is the trigger node's
 * `methods.credentialTest.binanceUserStreamApiTest`, which runs the core's key check, the same one
 * as the Node-RED account dialog's Test connection.
 */
import type { ICredentialType, INodeProperties, Icon } from 'n8n-workflow';

export class BinanceUserStreamApi implements ICredentialType {
  name = 'binanceUserStreamApi';

  displayName = 'Binance API';

  icon: Icon = { light: 'file:../nodes/BinanceUserStreamTrigger/binance.svg', dark: 'file:../nodes/BinanceUserStreamTrigger/binance.dark.svg' };

  documentationUrl = 'https://github.com/node-red-contrib-binance-user-stream/node-red-contrib-binance-user-stream/tree/main/n8n#credentials';

  properties: INodeProperties[] = [
    {
      displayName: 'Environment',
      name: 'environment',
      type: 'options',
      options: [
        { name: 'Production', value: 'production' },
        { name: 'Testnet', value: 'testnet' },
        { name: 'Demo Trading', value: 'demo' },
        { name: 'Custom URLs', value: 'custom' },
      ],
      default: 'production',
      description: 'Where the key lives: a key works on one environment only',
    },
    {
      displayName: 'REST URL',
      name: 'restUrl',
      type: 'string',
      default: '',
      placeholder: 'https://gateway.example.com',
      description: 'Base URL of the REST API (plain http:// only for loopback)',
      displayOptions: { show: { environment: ['custom'] } },
    },
    {
      displayName: 'WebSocket URL',
      name: 'wsUrl',
      type: 'string',
      default: '',
      placeholder: 'wss://gateway.example.com',
      description: 'Base URL of the WebSocket API or stream (plain ws:// only for loopback)',
      displayOptions: { show: { environment: ['custom'] } },
    },
    {
      displayName: 'Key Type',
      name: 'keyType',
      type: 'options',
      options: [
        { name: 'HMAC (API Key + Secret)', value: 'hmac' },
        { name: 'Ed25519 (API Key + Private Key)', value: 'ed25519' },
        { name: 'RSA (API Key + Private Key)', value: 'rsa' },
      ],
      default: 'hmac',
      description: 'How Binance generated the key. Ed25519 is what Binance recommends; a read-only key is enough.',
    },
    {
      displayName: 'API Key',
      name: 'apiKey',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      required: true,
    },
    {
      displayName: 'API Secret',
      name: 'apiSecret',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      displayOptions: { show: { keyType: ['hmac'] } },
    },
    {
      displayName: 'Private Key (PEM)',
      name: 'privateKey',
      type: 'string',
      typeOptions: { password: true, rows: 5 },
      default: '',
      placeholder: '-----BEGIN PRIVATE KEY-----',
      description: 'The PEM private key whose public key was registered with Binance',
      displayOptions: { show: { keyType: ['ed25519', 'rsa'] } },
    },
    {
      displayName: 'Passphrase',
      name: 'passphrase',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      description: 'Only for an encrypted private key',
      displayOptions: { show: { keyType: ['ed25519', 'rsa'] } },
    },
  ];
}
