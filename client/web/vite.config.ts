// The browser client's build: `vite build` (from the repository root:
// `vite build --config client/web/vite.config.ts`) writes static files to client/web/dist,
// which client/web/server.ts serves.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  // Source files outside client/web (core, client/media, adapters/sframe, generated protobuf).
  server: { fs: { allow: [fileURLToPath(new URL('../..', import.meta.url))] } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
