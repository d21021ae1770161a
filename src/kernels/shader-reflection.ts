// Reflection of WGSL with wgsl_reflect: which resources an entry point binds, and the layout of
// its uniform parameter struct. Launchers pass buffers and parameters *by name*; a name the
// shader does not have, or a binding the launcher forgot, is a loud error at load time that
// names the kernel. The uniform struct is packed from the reflected member offsets, so shapes
// travel as uniforms and one pipeline serves every shape.
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';

export interface UniformMember {
  name: string;
  offset: number;
  /** Scalar kind of the member, or of each element for vecN/arrays. */
  kind: 'u32' | 'i32' | 'f32';
  /** Number of scalars (1 for scalars, N for vecN / array<T, N>). */
  count: number;
  /** Byte stride between scalars (4 for vec, array stride for arrays). */
  stride: number;
}

export interface BindingInfo {
  name: string;
  binding: number;
  kind: 'uniform' | 'storage';
  access: string; // 'read' | 'read_write' for storage
}

export interface EntryReflection {
  entry: string;
  bindings: BindingInfo[]; // group 0 only, sorted by binding
  uniform: { name: string; size: number; members: UniformMember[] } | null;
  workgroupSize: [number, number, number] | null;
  /** Override constants declared by the module. */
  overrides: string[];
}

const cache = new Map<string, Map<string, EntryReflection>>();

function scalarKind(typeName: string, kernel: string, member: string): 'u32' | 'i32' | 'f32' {
  const short = /^vec[234]([uif])$/.exec(typeName);
  if (short) return (short[1] + '32') as 'u32' | 'i32' | 'f32';
  const m = /(u32|i32|f32)/.exec(typeName);
  if (!m) throw new Error(`kernel ${kernel}: uniform member '${member}' has type ${typeName}; only u32/i32/f32 scalars, vectors and arrays are supported`);
  return m[1] as 'u32' | 'i32' | 'f32';
}

export function reflectShader(kernel: string, source: string): Map<string, EntryReflection> {
  const hit = cache.get(source);
  if (hit) return hit;
  let r: WgslReflect;
  try {
    r = new WgslReflect(source);
  } catch (e) {
    throw new Error(`kernel ${kernel}: WGSL failed to parse for reflection: ${(e as Error).message}`);
  }
  const out = new Map<string, EntryReflection>();
  for (const fn of r.entry.compute) {
    const bindings: BindingInfo[] = [];
    let uniform: EntryReflection['uniform'] = null;
    for (const res of fn.resources) {
      if (res.group !== 0) throw new Error(`kernel ${kernel}/${fn.name}: resource ${res.name} is in group ${res.group}; launchers bind group 0 only`);
      if (res.resourceType === ResourceType.Uniform) {
        bindings.push({ name: res.name, binding: res.binding, kind: 'uniform', access: 'read' });
        const members: UniformMember[] = [];
        for (const m of res.members ?? []) {
          const isArr = m.isArray;
          const tn = isArr ? (m.format?.name ?? '') : m.type.name;
          const vec = /vec([234])/.exec(m.type.getTypeName());
          const count = isArr ? m.count : vec ? Number(vec[1]) : 1;
          const stride = isArr ? m.stride : 4;
          members.push({ name: m.name, offset: m.offset, kind: scalarKind(isArr ? tn : m.type.getTypeName(), kernel, m.name), count, stride });
        }
        uniform = { name: res.name, size: res.size, members };
      } else if (res.resourceType === ResourceType.Storage) {
        bindings.push({ name: res.name, binding: res.binding, kind: 'storage', access: res.access || 'read' });
      } else {
        throw new Error(`kernel ${kernel}/${fn.name}: resource ${res.name} is not a buffer; compute launchers bind buffers only`);
      }
    }
    bindings.sort((a, b) => a.binding - b.binding);
    out.set(fn.name, {
      entry: fn.name,
      bindings,
      uniform,
      workgroupSize: fn.workgroupSize,
      // Declared at module level: wgsl_reflect lists per function only those used directly in
      // its body, not through the functions it calls.
      overrides: r.overrides.map((o) => o.name),
    });
  }
  cache.set(source, out);
  return out;
}

/** Pack named parameters into the reflected uniform layout. Every member must be given. */
export function packUniform(
  kernel: string,
  layout: NonNullable<EntryReflection['uniform']>,
  params: Record<string, number | ArrayLike<number>>,
  dst: DataView,
  base: number,
): void {
  const given = new Set(Object.keys(params));
  for (const m of layout.members) {
    const v = params[m.name];
    if (v === undefined) throw new Error(`kernel ${kernel}: uniform member '${m.name}' was not given by the launcher`);
    given.delete(m.name);
    if (typeof v === 'number' ? m.count !== 1 : v.length < m.count) {
      throw new Error(`kernel ${kernel}: uniform member '${m.name}' needs ${m.count} value(s)`);
    }
    for (let i = 0; i < m.count; i++) {
      const x = typeof v === 'number' ? v : v[i];
      const at = base + m.offset + i * m.stride;
      if (m.kind === 'f32') dst.setFloat32(at, x, true);
      else if (m.kind === 'i32') dst.setInt32(at, x, true);
      else {
        if (x < 0 || !Number.isInteger(x)) throw new Error(`kernel ${kernel}: uniform member '${m.name}' must be a non-negative integer, got ${x}`);
        dst.setUint32(at, x, true);
      }
    }
  }
  if (given.size) throw new Error(`kernel ${kernel}: the shader has no uniform member(s) ${[...given].join(', ')}`);
}
