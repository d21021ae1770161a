// `medivlad bench <suite> [--json]`: kernel benchmarks with peers measured in the same run.
import type { CommandModule } from 'yargs';

interface BenchArgs {
  suite: string;
  json: boolean;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench [suite]',
  describe: 'Benchmark kernels (matmul, softmax, layernorm, ...) against tfjs-webgpu on the same adapter',
  builder: (y) =>
    y
      .positional('suite', { type: 'string', default: 'all', describe: 'which benchmark' })
      .option('json', { type: 'boolean', default: false, describe: 'print exactly one JSON object on stdout' }) as never,
  handler: async (args) => {
    throw new Error(`bench ${args.suite}: not built yet`);
  },
};
