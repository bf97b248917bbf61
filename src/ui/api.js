/**
 * The engine's HTTP API as the dashboard calls it: the same routes and the same RBAC as any
 * client, with the signed-in user's bearer token. Errors arrive as problem+json and become an
 * {@link ApiError} whose message says what an operator can do about it.
 */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{type?: string, title?: string, detail?: string}} problem
   * @param {string} path
   */
  constructor(status, problem, path) {
    super(describe(status, problem, path));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
    this.path = path;
  }
}

function describe(status, problem, fullPath) {
  const path = fullPath.split('?')[0];
  const detail = problem.detail ? `: ${problem.detail}` : '';
  if (status === 403 && problem.type === 'urn:async-engine:problem:forbidden') {
    return `The API refused ${path} (403 Forbidden): your sign-in lacks a role that rbac.config requires for it. Ask for the role, or sign in as someone who has it.`;
  }
  if (status === 401) {
    return `The API refused ${path} (401 Unauthorized): it does not accept your token. Sign out and in again; if that does not help, the dashboard's OpenID client may lack the engine's audience (see the README, Dashboard).`;
  }
  if (status === 0) return `The engine cannot be reached (${path})${detail}.`;
  return `${problem.title ?? 'Error'} (${status})${detail}`;
}

/**
 * @param {{ token: () => Promise<string | null> }} options where the bearer token comes from (null under auth "none")
 */
export function createApi({ token }) {
  /**
   * @param {string} method
   * @param {string} path
   * @returns {Promise<Response>}
   */
  async function send(method, path) {
    const headers = new Headers({ accept: 'application/json' });
    const bearer = await token();
    if (bearer) headers.set('authorization', `Bearer ${bearer}`);
    let response;
    try {
      response = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
    } catch (err) {
      throw new ApiError(0, { detail: err instanceof Error ? err.message : String(err) }, path);
    }
    if (!response.ok) {
      let problem = {};
      try {
        problem = await response.json();
      } catch {
        problem = { title: response.statusText };
      }
      throw new ApiError(response.status, problem, path);
    }
    return response;
  }

  return {
    send,
    /** GET and parse JSON. */
    async get(path) {
      return (await send('GET', path)).json();
    },
    /** POST without a body; the JSON answer, or null for none. */
    async post(path) {
      const response = await send('POST', path);
      return response.status === 204 ? null : response.json();
    },
    async delete(path) {
      await send('DELETE', path);
    },
  };
}

/** `/api/...?a=1` with the parameters that are set. */
export function apiPath(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== null && value !== undefined && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
