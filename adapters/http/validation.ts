import type { z } from 'zod';
import { badRequest } from './errors.ts';

/**
 * Parses a request body with a zod schema or throws a 400 naming the offending fields.
 * The message quotes field names and rules, never the submitted values.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return `unexpected field(s): ${issue.keys.join(', ')}`;
    const field = issue.path.join('.');
    return field === '' ? issue.message : `${field}: ${issue.message}`;
  });
  throw badRequest(problems.join('; '));
}
