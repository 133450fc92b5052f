/**
 * CLI: node dist/simulator/cli.js [--port 8090] [--demo] [--interval 3000]
 * Starts the loopback simulator, prints its URLs and a demo API key. With --demo it creates a demo
 * account with keys of each type, prints them and runs a trading day (spot + USDⓈ-M futures).
 * Dev tool only: the keys it prints are throw-away keys of the local simulator.
 */
import { BinanceSimulator } from './index';
import { runDemoScenario, type DemoHandle } from './demo';

function parseArgs(argv: string[]): { port: number; demo: boolean; interval: number } {
  let port = 8090;
  let demo = false;
  let interval = 3000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--demo') demo = true;
    else if (a === '--port' || a.startsWith('--port=')) {
      const v = a.includes('=') ? a.split('=')[1] : argv[++i];
      port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${v}`);
    } else if (a === '--interval' || a.startsWith('--interval=')) {
      const v = a.includes('=') ? a.split('=')[1] : argv[++i];
      interval = Number(v);
      if (!Number.isFinite(interval) || interval < 100) throw new Error(`invalid --interval ${v}`);
    } else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/simulator/cli.js [--port 8090] [--demo] [--interval 3000]');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  return { port, demo, interval };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sim = await BinanceSimulator.start({ port: args.port });
  const account = sim.createAccount({
    balances: { USDT: '100000', BTC: '5', ETH: '50', BNB: '100' },
    futuresBalances: { USDT: '50000', BTC: '2' },
  });
  console.log('Binance user-data simulator (loopback dev tool)');
  console.log(`  REST               ${sim.restUrl}`);
  console.log(`  WebSocket API      ${sim.wsApiUrl}   (spot, margin)`);
  console.log(`  Futures streams    ${sim.futuresWsUrl}/private/ws?listenKey=<key>`);
  console.log(`  Account            ${account.id}`);
  const hmac = sim.createKey(account.id, 'hmac');
  console.log('\nDemo HMAC key (environment "custom", REST/WS URLs above):');
  console.log(`  apiKey     ${hmac.apiKey}`);
  console.log(`  apiSecret  ${hmac.apiSecret}`);
  let handle: DemoHandle | undefined;
  if (args.demo) {
    for (const t of ['ed25519', 'rsa'] as const) {
      const k = sim.createKey(account.id, t);
      console.log(`\nDemo ${t} key:`);
      console.log(`  apiKey     ${k.apiKey}`);
      console.log(`  privateKey (PKCS#8 PEM):\n${k.privateKeyPem}`);
    }
    console.log(`\nRunning the demo trading day (one step every ${args.interval} ms) ...`);
    handle = runDemoScenario(sim, account.id, {
      intervalMs: args.interval,
      markets: ['spot', 'usdm-futures'],
      log: (line) => console.log(`[${new Date().toISOString()}] ${line}`),
    });
  }
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    handle?.stop();
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
