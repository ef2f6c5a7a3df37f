// ESLint flat config. The block for core/ enforces the sans-I/O rule (docs/architecture.md):
// no clocks, randomness, timers, I/O, logging, node:* modules, or imports from the outer layers.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const sansIoGlobals = [
  'Date',
  'performance',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'process',
  'console',
  'fetch',
  'require',
  'crypto',
  'Buffer',
  'WebSocket',
  'XMLHttpRequest',
].map((name) => ({
  name,
  message: 'core/ is sans-I/O: take time, randomness and I/O from the caller.',
}));

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'reports/**',
      '.stryker-tmp/**',
      'dist/**',
      '.build/**',
      '.stryker-tmp*/**',
      'client/dist/**',
      'client/web/dist/**',
      '**/*.gen.ts',
      '**/generated/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
        fetch: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // The browser client: the page's globals (its TypeScript config checks them against the DOM).
  {
    files: ['client/web/src/**/*.ts'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'navigator',
          'WebSocket',
          'CSS',
          'FormData',
          'SubmitEvent',
          'MessageEvent',
          'CloseEvent',
          'HTMLElement',
          'HTMLCanvasElement',
          'HTMLFormElement',
          'HTMLInputElement',
          'HTMLSelectElement',
          'HTMLButtonElement',
          'HTMLUListElement',
          'CanvasRenderingContext2D',
          'URLSearchParams',
          'VideoEncoder',
          'VideoDecoder',
          'VideoFrame',
          'EncodedVideoChunk',
          'btoa',
          'atob',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  // Every layer's imports (docs/architecture.md, "Layers"): ports hold interfaces and plain
  // data types from core; adapters implement ports and never import services or the simulator;
  // the simulator drives core and never imports adapters or services.
  {
    files: ['ports/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', '**/adapters/**', '**/services/**', '**/sim/**', '**/client/**'],
              message: 'ports/ hold interfaces and plain data types from core only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/services/**', '**/sim/**', '**/chaos/**', '**/client/**'],
              message: 'adapters implement ports; they never import services or the simulator.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['sim/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/adapters/**',
                '**/services/**',
                'pg',
                'ioredis',
                'fastify',
                'jose',
                'pino',
              ],
              message:
                'the simulator drives core with in-memory ports; it never imports adapters or services.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts', 'core/demo.ts'],
    rules: {
      'no-restricted-globals': ['error', ...sansIoGlobals],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'core/ is sans-I/O: inject a RandomSource.',
        },
        {
          object: 'Date',
          property: 'now',
          message: 'core/ is sans-I/O: take `now` as an argument.',
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'fs',
                'net',
                'dgram',
                'http',
                'http2',
                'https',
                'crypto',
                'os',
                'child_process',
                'worker_threads',
                'timers',
                'timers/*',
              ],
              message: 'core/ is sans-I/O: no Node built-ins.',
            },
            {
              group: [
                '**/adapters/**',
                '**/services/**',
                '**/sim/**',
                '**/chaos/**',
                '**/client/**',
                'pg',
                'ioredis',
                'jose',
                'pino',
                'prom-client',
                'fastify',
                'seedrandom',
              ],
              message: 'core/ may not import the outer layers or I/O libraries.',
            },
          ],
        },
      ],
    },
  },
);
