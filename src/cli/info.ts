// `medivlad info [--json]`: which adapter the runtime gets, whether it is a software one,
// its features and the limits that matter for our kernels.
import type { CommandModule } from 'yargs';
import { initNode } from '../node/index.js';

interface InfoArgs {
  json: boolean;
  driver: string;
}

export const infoCommand: CommandModule<object, InfoArgs> = {
  command: 'info',
  describe: 'Show the WebGPU adapter the engine uses (vendor, software or not, features, limits)',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
      .option('driver', {
        type: 'string',
        default: 'auto',
        choices: ['auto', 'system', 'lavapipe', 'swiftshader'],
        describe: 'which Vulkan driver to use (auto: system, then lavapipe, then SwiftShader)',
      }) as never,
  handler: async (args) => {
    const rt = await initNode({ driver: args.driver as 'auto' });
    const a = rt.adapter;
    if (args.json) {
      process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
      return;
    }
    const lines = [
      `adapter:      ${a.description || a.device || '(no description)'}`,
      `vendor:       ${a.vendor || '-'}   architecture: ${a.architecture || '-'}`,
      `software:     ${a.isSoftware ? `yes (${a.family})` : 'no'}   driver: ${a.driver}`,
      `features:     ${a.features.join(', ')}`,
      'limits:',
      ...Object.entries(a.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
