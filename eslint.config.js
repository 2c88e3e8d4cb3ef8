import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Protocol logic must stay deterministic so that the simulator can run it
// unchanged: no clock, network, randomness or disk except through injected
// interfaces (DESIGN.md, "The one rule that keeps it testable").
const PURE = ['src/raft/**', 'src/ring/**', 'src/version/**', 'src/coordinator/**', 'src/membership/**', 'src/antientropy/**', 'src/control/**', 'src/handoff/**'];

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
    files: PURE,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'net', 'http', 'crypto', 'lmdb', '@grpc/*', 'timers', 'os'], message: 'protocol logic must receive I/O through injected interfaces' }] }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'performance', 'process', 'fetch'],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now' }, { object: 'Math', property: 'random' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date']", message: 'use the injected Clock' }],
    },
  },
);
