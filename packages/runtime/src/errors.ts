/** The message of a thrown value, for logs and for reasons written into events. */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err))
