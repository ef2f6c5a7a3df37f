import type { z } from 'zod';
import { badRequest } from './errors.ts';

/**
 * The path of the first string in `value` (a parsed body) that holds a NUL character, or
 * undefined. PostgreSQL cannot store NUL in text, and no field of the API needs one.
 */
export function pathOfNul(value: unknown, path: string[] = []): string[] | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\0')) return [...path, key];
    const found = pathOfNul(child, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

/**
 * Parses a request body with a zod schema or throws a 400 naming the offending fields.
 * The message quotes field names and rules, never the submitted values. A string holding a
 * NUL character is refused before the schema runs.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const nul = pathOfNul(body);
  if (nul) throw badRequest(`${nul.join('.') || 'body'}: must not contain a NUL character`);
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return `unexpected field(s): ${issue.keys.join(', ')}`;
    const field = issue.path.join('.');
    return field === '' ? issue.message : `${field}: ${issue.message}`;
  });
  throw badRequest(problems.join('; '));
}
