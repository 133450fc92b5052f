/**
 * Entry of one scenario process: `node dist/bench/scenario.js <stream|redeploy|redeploy-control|redeploy-nojit|soak|scale|burst> [options]`.
 * Prints progress on stderr and one result line (RESULT_MARK + JSON) on stdout.
 */
import { runBurst } from './burst-bench';
import { emitResult, installLoopbackGuard, parseOptions } from './common';
import { runRedeploy, runScale } from './runtime-bench';
import { runSoak } from './soak-bench';
import { runStreamBench } from './stream-bench';

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

async function main(): Promise<void> {
  installLoopbackGuard();
  const name = process.argv[2];
  const opts = parseOptions(process.argv.slice(3));
  let result: unknown;
  switch (name) {
    case 'stream':
      result = await runStreamBench(opts, log);
      break;
    case 'redeploy':
      result = await runRedeploy(opts, log, 'ours');
      break;
    case 'redeploy-control':
      result = await runRedeploy(opts, log, 'control');
      break;
    case 'redeploy-nojit':
      // started by run.ts with NO_JIT_FLAGS; the growth over `cycles` only (no trend phase)
      result = await runRedeploy({ ...opts, trendCycles: 0 }, log, 'ours');
      break;
    case 'soak':
      result = await runSoak(opts, log);
      break;
    case 'burst':
      result = await runBurst(opts, log);
      break;
    case 'scale':
      result = await runScale(opts, log);
      break;
    default:
      throw new Error(`unknown scenario ${name}`);
  }
  emitResult(result);
}

process.on('unhandledRejection', (err) => {
  log(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
});

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`scenario failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
