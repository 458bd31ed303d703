// ESLint flat config: ESLint looks for mistakes, Prettier decides layout
// (eslint-config-prettier, last, turns off every rule that would fight it).
//
// typescript-eslint's `recommended`, not `recommendedTypeChecked`: the
// type-aware rules need the whole program typed first, which on two cores
// nearly triples the run (about 17 s instead of 6), and when they were tried
// here they found no bug (no floating or misused promise; mostly assertions
// tsc no longer needs).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'build/', 'node_modules/', 'coverage/', 'workdir.example/', 'examples/*.workdir/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    // Everything here runs on Node: the example operation modules (.mjs) and this file too.
    languageOptions: { globals: globals.node },
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a binding left unused on purpose: a field
      // dropped before a rest element, `for await (const _ of ...)`, a type
      // parameter matched by `infer _O` only for its position.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Type-only imports say so (tsc's verbatimModuleSyntax requires it too);
      // the project writes them inline, `import { x, type Y }`.
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      // ...but an import of nothing but inline types becomes `import type`,
      // so that verbatimModuleSyntax does not keep it as a side-effect import.
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // The project narrows instead of asserting non-null (noUncheckedIndexedAccess,
      // `must`-style helpers); none is used today, so keep it that way.
      '@typescript-eslint/no-non-null-assertion': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The web page's code runs in a browser.
    files: ['web/**'],
    languageOptions: { globals: globals.browser },
  },
  {
    // The library reports through events and return values, never by printing.
    files: ['src/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // Programs that talk to a terminal: the CLI and the build step that precompiles schemas.
    files: ['src/cli/**', 'src/workflow/compile-schemas.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // The bin is CommonJS, so that Node starts it without its ES module loader (see the file).
    files: ['src/cli/bin.cts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
