// Initialisers that depend only on a model seed and the parameter's name, not on the order in
// which a ParameterStore draws them or on the store's own seed: a video model's config (with its
// seed) then says exactly which initial values it has, whatever store materialises it.
import type { Init } from './module.js';
import { fillInit } from './parameters.js';
import { Rng, hashSeed } from '../data/rng.js';

/** The stream of parameter `name` under model seed `seed`. */
export function paramRng(seed: number, name: string): Rng {
  const codes = Array.from(name, (ch) => ch.charCodeAt(0));
  return new Rng(hashSeed(seed, ...codes));
}

/** `base` (uniform, normal, ...) drawn from the parameter's own stream. */
export function seededInit(seed: number, name: string, base: Init): Init {
  return { kind: 'fn', fill: (out) => fillInit(base, out, paramRng(seed, name)) };
}
