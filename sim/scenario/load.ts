import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { err, ok, type Result } from '../../core/result.ts';
import { scenarioSchema, type Scenario } from './schema.ts';
import { builtinScenario, builtinScenarioNames } from './builtin.ts';

/** One problem with a scenario: where (a dotted path) and what. */
export interface ScenarioIssue {
  readonly path: string;
  readonly message: string;
}

export type ScenarioError =
  | { readonly kind: 'unknown-scenario'; readonly name: string; readonly known: readonly string[] }
  | { readonly kind: 'unreadable'; readonly file: string; readonly message: string }
  | { readonly kind: 'syntax'; readonly file: string; readonly message: string }
  | {
      readonly kind: 'invalid';
      readonly source: string;
      readonly issues: readonly ScenarioIssue[];
    };

/** Validates a parsed scenario object, reporting every problem with its path. */
export function validateScenario(
  input: unknown,
  source = 'scenario',
): Result<Scenario, ScenarioError> {
  const parsed = scenarioSchema.safeParse(input);
  if (parsed.success) return ok(parsed.data);
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    message: issue.message,
  }));
  return err({ kind: 'invalid', source, issues });
}

/** Parses scenario text: JSON when the name ends in .json, YAML otherwise (YAML accepts JSON). */
export function parseScenarioText(text: string, file: string): Result<Scenario, ScenarioError> {
  let data: unknown;
  try {
    data = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    return err({ kind: 'syntax', file, message: (error as Error).message });
  }
  return validateScenario(data, file);
}

/** Resolves `--scenario`: a built-in name, or a path to a YAML or JSON file. */
export function loadScenario(nameOrFile: string): Result<Scenario, ScenarioError> {
  const builtin = builtinScenario(nameOrFile);
  if (builtin !== undefined) return ok(builtin);
  const looksLikeFile = /[./\\]/.test(nameOrFile);
  if (!looksLikeFile)
    return err({ kind: 'unknown-scenario', name: nameOrFile, known: builtinScenarioNames() });
  let text: string;
  try {
    text = readFileSync(nameOrFile, 'utf8');
  } catch (error) {
    return err({ kind: 'unreadable', file: nameOrFile, message: (error as Error).message });
  }
  return parseScenarioText(text, nameOrFile);
}

/** A scenario error as one line for the terminal: every problem with its path. */
export function describeScenarioError(error: ScenarioError): string {
  switch (error.kind) {
    case 'unknown-scenario':
      return `unknown scenario "${error.name}"; built-in scenarios: ${error.known.join(', ')}, swarm-<seed> (or give a .yaml/.json file)`;
    case 'unreadable':
      return `cannot read scenario file ${error.file}: ${firstLine(error.message)}`;
    case 'syntax':
      return `scenario file ${error.file} does not parse: ${firstLine(error.message)}`;
    case 'invalid':
      return `invalid scenario ${error.source}: ${error.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
  }
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim().replace(/:$/, '');
}
