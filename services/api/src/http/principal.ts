// Who is calling, apart from how they proved it (auth.ts): the request's environment
// (env.ts) carries a principal, and authentication makes one.

/** The roles an API key can carry. */
export type Role = 'admin' | 'monitor' | 'reader'
export const ROLES: readonly Role[] = ['admin', 'monitor', 'reader']

/** Who is calling: what policy checks (roles, project, user), an id to count its streams by, a name for messages. */
export interface Principal {
  /** Stable per caller (a Keystone user and project, or one API key), never the secret itself. */
  id: string
  name: string
  roles: ReadonlySet<string>
  projectId?: string | undefined
  userId?: string | undefined
  /** The API key's role, when the caller used one (the dashboard shows it). */
  keyRole?: Role | undefined
}
