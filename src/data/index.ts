// The data pipeline's public API (platform-neutral; Node file access is src/node/data-io.ts).
export { type Clip, NUM_CLASSES, scoreToClass, DataError, BadInputLog } from './clip.js';
export { Rng, hashSeed, splitmix32 } from './rng.js';
export { parseCsv, formatCsv, type CsvRecord } from './csv.js';
export { parseManifest, formatManifest, isExpertLabel, MANIFEST_COLUMNS, type Manifest, type ManifestItem } from './manifest.js';
export { decodePng, encodePng, isPng, PngError, type Image8 } from './png.js';
export { resizeGray, toGray, toUint8 } from './resize.js';
export {
  LUS_MEAN, LUS_STD, CLIP_FRAMES, evalIndices, trainIndices, writeClipTensor, clipTensor, pixelStats, type NormalizeOptions,
} from './preprocess.js';
export {
  type DataFs, type GrayFrames, type ClipSource, type ClipInfo, type LoadOptions, ManifestSource, openManifest, openInput,
  loadFrames, loadAll, naturalCompare, IMAGE_EXTS, VIDEO_EXTS,
} from './source.js';
export { patientFolds, validationSplit, type Fold, type FoldSplit, type FoldItem } from './folds.js';
export { BatchLoader, ClipCache, type Batch, type BatchOptions, type LoaderStats } from './loader.js';
export {
  SYNTH_DEFAULTS, SYNTH_EXTRA_COLUMNS, SynthSource, synthSpecs, synthClip, synthScene, synthItem, synthDataset,
  type SynthOptions, type SynthClipSpec,
} from './synth.js';
export { contactSheet, type SheetRow, type SheetOptions } from './contact-sheet.js';
