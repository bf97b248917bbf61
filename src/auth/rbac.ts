/**
 * Which roles a URL needs, from rbac.config: the mapping with the longest matching URL prefix
 * wins (a prefix matches whole path segments: `/api` covers `/api/dlq`, not `/apix`), and a token
 * needs at least one of its roles. A URL no mapping covers needs authentication only.
 */
import type { RoleMapping } from '../config/types.js';

export function requiredRoles(path: string, mappings: readonly RoleMapping[]): readonly string[] | null {
  let best: RoleMapping | null = null;
  for (const mapping of mappings) {
    const prefix = mapping.urlPrefix.replace(/\/+$/, '');
    const covers = prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
    if (covers && (best === null || prefix.length > best.urlPrefix.replace(/\/+$/, '').length)) best = mapping;
  }
  return best ? best.roles : null;
}

export function isPermitted(roles: readonly string[], needed: readonly string[] | null): boolean {
  return needed === null || needed.some((role) => roles.includes(role));
}
