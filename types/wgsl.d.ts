// WGSL shaders are imported as text: esbuild's `text` loader in the bundle, a tiny vite plugin in tests.
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// wgsl_reflect's "main" is a CommonJS file inside a "type": "module" package, which Node
// refuses to load; its ESM build is imported by path instead (same API and types).
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
