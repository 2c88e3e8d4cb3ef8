import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Protocol logic must stay deterministic so that the simulator can run it
// unchanged: no clock, network, randomness or disk except through injected
// interfaces (docs/architecture.md, "Layers"). Which folder may import which
// is .dependency-cruiser.cjs's job; this block forbids the globals and
// built-ins that would reach the outside world without an import of ours.
const PURE = [
  'src/ring/**',
  'src/version/**',
  'src/coordinator/**',
  'src/membership/**',
  'src/antientropy/**',
  'src/handoff/**',
  'src/layout/**',
  'src/raft/**',
  'src/control/**',
  'src/components/**',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'src/transport/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: PURE,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'net', 'http', 'crypto', 'lmdb', '@grpc/*', 'timers', 'os'], message: 'protocol logic must receive I/O through injected interfaces' }] }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'performance', 'process', 'fetch'],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now' }, { object: 'Math', property: 'random' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date']", message: 'use the injected Clock' }],
    },
  },
);
