// The lint rules of @n8n/node-cli 0.48.3 (`n8n-node lint`), in their self-hosted form: its
// `configWithoutCloudSupport` (dist/configs/eslint.js) rebuilt from the same plugins at the same
// versions, because @n8n/node-cli itself brings a CLI and an AI SDK we do not need. Self-hosted:
// the community-nodes plugin's `recommendedWithoutN8nCloudSupport`, which leaves out
// no-restricted-globals / no-restricted-imports — our core uses timers and node:events, which n8n
// Cloud's rules forbid. Tests and scripts (not shipped) get the same base rules, console allowed.
import js from '@eslint/js';
import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';
import { globalIgnores } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';
import tseslint from 'typescript-eslint';

const communityNodes = n8nCommunityNodesPlugin.configs.recommendedWithoutN8nCloudSupport;

export default tseslint.config(
  globalIgnores(['dist', 'node_modules']),
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended, communityNodes, importX.configs['flat/recommended']],
    rules: {
      'prefer-spread': 'off',
      'no-console': 'error',
    },
  },
  {
    plugins: { 'n8n-nodes-base': n8nNodesBase },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: '../tsconfig.json' })],
    },
  },
  {
    files: ['package.json'],
    extends: [communityNodes],
    rules: { ...n8nNodesBase.configs.community.rules },
    languageOptions: { parser: tseslint.parser, parserOptions: { extraFileExtensions: ['.json'] } },
  },
  {
    files: ['./credentials/**/*.ts'],
    rules: {
      ...n8nNodesBase.configs.credentials.rules,
      'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
      'n8n-nodes-base/cred-class-field-type-options-password-missing': 'off',
    },
  },
  {
    files: ['./nodes/**/*.ts'],
    rules: {
      ...n8nNodesBase.configs.nodes.rules,
      'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
      'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
      'n8n-nodes-base/node-param-type-options-max-value-present': 'off',
    },
  },
  {
    // not shipped: tests and the end-to-end script
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-console': 'off', '@n8n/community-nodes/no-dangerous-functions': 'off' },
  },
);
