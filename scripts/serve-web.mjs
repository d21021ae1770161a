// `npm run demo:web`: build the browser bundle and the demo (scripts/build-web.mjs), then serve
// dist/web/ on http://127.0.0.1:PORT (default 8080; `-- --port N`, `-- --no-build`) and print
// the demo's address. localhost is a secure context, which WebGPU requires.
//
// The server is a small static file server (also used by the browser tests): GET/HEAD only,
// paths resolved inside the root (no `..` escapes), a content type per extension, no caching
// (a rebuilt bundle is picked up on reload), 404 for anything else.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.safetensors': 'application/octet-stream',
  '.pth': 'application/octet-stream',
};

/** Serve `root` on host:port (port 0: any free port). Resolves to { url, close }. */
export async function startStaticServer(root, { port = 0, host = '127.0.0.1' } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const fail = (code, text) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'method not allowed');
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return fail(400, 'bad path');
    }
    let file = resolve(base, `.${path}`);
    if (file !== base && !file.startsWith(base + sep)) return fail(403, 'outside the served folder');
    try {
      let st = await stat(file);
      if (st.isDirectory()) {
        file = join(file, 'index.html');
        st = await stat(file);
      }
      if (!st.isFile()) return fail(404, 'not found');
      res.writeHead(200, {
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': st.size,
        'cache-control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch {
      fail(404, 'not found');
    }
  });
  await new Promise((ok, ko) => {
    server.once('error', ko);
    server.listen(port, host, ok);
  });
  const addr = server.address();
  return {
    url: `http://${host}:${addr.port}/`,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--port');
  const port = at >= 0 ? Number(args[at + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${args[at + 1]} is not a port number`);
  const { buildWeb, ROOT } = await import('./build-web.mjs');
  const root = join(ROOT, 'dist/web');
  if (!args.includes('--no-build')) {
    const t0 = Date.now();
    await buildWeb({ outdir: root, types: false });
    console.log(`demo:web: built dist/web/ in ${Date.now() - t0} ms`);
  }
  const { url } = await startStaticServer(root, { port });
  console.log(`demo:web: serving dist/web/ — open ${url}demo/ (Chrome/Edge; Chromium needs --enable-unsafe-webgpu). Ctrl-C stops.`);
}
