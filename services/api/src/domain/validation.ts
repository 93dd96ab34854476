import type * as z from 'zod'
import { badRequest } from '../errors.js'

/** Parse `input` or throw a 400 whose message names the offending field. */
export const validate = <T extends z.ZodType>(schema: T, input: unknown, root?: string): z.infer<T> => {
  const parsed = schema.safeParse(input)
  if (parsed.success) return parsed.data
  throw badRequest(describeIssues(parsed.error, root))
}

export const describeIssues = (error: z.ZodError, root?: string): string =>
  error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [...(root ? [root] : []), ...issue.path.map(String)]
      const keys = 'keys' in issue && Array.isArray(issue.keys) ? (issue.keys as string[]) : []
      if (issue.code === 'unrecognized_keys') {
        return `Additional properties are not allowed (${keys.map((k) => `'${k}'`).join(', ')} ${keys.length > 1 ? 'were' : 'was'} unexpected)${path.length ? ` in ${path.join('.')}` : ''}`
      }
      const field = path.length > 0 ? path.join('.') : 'body'
      return `Invalid input for field/attribute ${field}: ${issue.message}`
    })
    .join('; ')
