// The medivlad CLI. Each command lives in its own file and is registered here.
// Errors print one line (the stack only with --verbose) and exit non-zero.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { infoCommand } from './info.js';
import { benchCommand } from './bench.js';
import { synthCommand } from './synth.js';
import { pretrainCommand } from './pretrain.js';
import { embedCommand } from './embed.js';
import { shutdownNode } from '../node/index.js';
import { finishEnvProfile } from '../node/profile-env.js';

async function main(): Promise<void> {
  const argv = hideBin(process.argv);
  const verbose = argv.includes('--verbose');
  try {
    await yargs(argv)
      .scriptName('medivlad')
      .usage('$0 <command> [options]')
      .option('verbose', { type: 'boolean', default: false, describe: 'print stack traces on errors' })
      .command(infoCommand)
      .command(benchCommand)
      .command(synthCommand)
      .command(pretrainCommand)
      .command(embedCommand)
      .command((await import('./finetune.js')).finetuneCommand)
      .command((await import('./score.js')).scoreCommand)
      .command((await import('./eval.js')).evalCommand)
      .command((await import('./train-video.js')).trainVideoCommand)
      .command((await import('./reproduce.js')).reproduceCommand)
      .demandCommand(1, 'Name a command; see --help.')
      .strict()
      .recommendCommands()
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .help()
      .version(false)
      .parseAsync();
  } catch (e) {
    const err = e as Error;
    console.error(`medivlad: error: ${verbose ? (err.stack ?? err.message) : err.message.split('\n')[0]}`);
    process.exitCode = 2;
  } finally {
    try {
      await finishEnvProfile(); // MEDIVLAD_PROFILE=FILE
    } catch (e) {
      console.error(`medivlad: error: the GPU profile could not be written: ${(e as Error).message}`);
      process.exitCode = 2;
    }
    shutdownNode();
  }
}

await main();
