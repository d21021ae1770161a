// Workgroup grids. WebGPU caps each grid dimension at maxComputeWorkgroupsPerDimension (65535
// here), so a 1-D launch of more than 65535 groups is folded into x * y; shaders rebuild the
// linear index as (wid.y * nwg.x + wid.x) and bounds-check it.

export const MAX_GROUPS = 65535;

export function grid1d(groups: number): [number, number, number] {
  if (groups <= 0) return [1, 1, 1];
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  if (y > MAX_GROUPS) throw new Error(`grid1d: ${groups} workgroups exceed ${MAX_GROUPS}^2`);
  return [Math.ceil(groups / y), y, 1];
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}
