// An in-process stand-in for the Stack Auth REST API, shaped after its route schemas: the request fields
// (sign-up {email, password, verification_callback_url?}, sign-in {email, password}, the refresh token in
// x-stack-refresh-token, the access token in x-stack-access-token) and the response fields (access_token,
// refresh_token, user_id; /users/me answers the user with its id). Client requests must carry the project id,
// access type "client" and the publishable client key. Paths listed in rateLimited answer 429.
export function createFakeStackAuth({ apiBase, projectId, publishableClientKey, rateLimited = [] }) {
  const users = new Map(); // email -> { id, password }
  const refreshTokens = new Map(); // token -> user id
  const accessTokens = new Map(); // token -> user id
  let serial = 0;
  const next = (prefix) => `${prefix}-${++serial}`;

  const answer = (status, json, durationMs = 10) => ({ status, json, durationMs });
  const issueTokens = (userId) => {
    const access = next('access');
    const refresh = next('refresh');
    accessTokens.set(access, userId);
    refreshTokens.set(refresh, userId);
    return { access_token: access, refresh_token: refresh, user_id: userId };
  };
  const header = (request, name) => {
    const found = Object.entries(request.headers).find(([key]) => key.toLowerCase() === name);
    return found ? found[1] : undefined;
  };
  const jsonBody = (request) => {
    if (header(request, 'content-type') !== 'application/json') return undefined;
    try {
      return JSON.parse(request.body);
    } catch (_) {
      return undefined;
    }
  };

  return function respond(request) {
    if (!request.url.startsWith(`${apiBase}/api/v1/`)) {
      return answer(404, { code: 'NOT_FOUND', error: `no route ${request.url}` });
    }
    const path = request.url.slice(`${apiBase}/api/v1`.length);
    if (header(request, 'x-stack-project-id') !== projectId
      || header(request, 'x-stack-access-type') !== 'client'
      || header(request, 'x-stack-publishable-client-key') !== publishableClientKey) {
      return answer(401, { code: 'INVALID_PROJECT_AUTHENTICATION', error: 'bad client headers' });
    }
    if (rateLimited.includes(path)) {
      return answer(429, { error: 'rate limited', rule: path });
    }
    const route = `${request.method} ${path}`;
    if (route === 'POST /auth/password/sign-up') {
      const body = jsonBody(request);
      if (!body || typeof body.email !== 'string' || !body.email.includes('@')
        || typeof body.password !== 'string' || body.password.length < 8 || body.password.length > 70) {
        return answer(400, { code: 'SCHEMA_ERROR', error: 'sign-up needs email and password' });
      }
      if (users.has(body.email)) {
        return answer(409, { code: 'USER_EMAIL_ALREADY_EXISTS', error: 'email taken' });
      }
      const id = next('user');
      users.set(body.email, { id, password: body.password, verificationCallbackUrl: body.verification_callback_url });
      return answer(200, issueTokens(id), 120);
    }
    if (route === 'POST /auth/password/sign-in') {
      const body = jsonBody(request);
      const user = body && users.get(body.email);
      if (!user || user.password !== body.password) {
        return answer(400, { code: 'EMAIL_PASSWORD_MISMATCH', error: 'wrong email or password' });
      }
      return answer(200, issueTokens(user.id), 80);
    }
    if (route === 'POST /auth/sessions/current/refresh') {
      const userId = refreshTokens.get(header(request, 'x-stack-refresh-token'));
      if (!userId) {
        return answer(401, { code: 'REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED', error: 'unknown refresh token' });
      }
      const access = next('access');
      accessTokens.set(access, userId);
      return answer(200, { access_token: access }, 20);
    }
    if (route === 'GET /users/me') {
      const userId = accessTokens.get(header(request, 'x-stack-access-token'));
      if (!userId) {
        return answer(401, { code: 'CANNOT_GET_OWN_USER_WITHOUT_USER', error: 'no user' });
      }
      const email = [...users.entries()].find(([, user]) => user.id === userId)[0];
      return answer(200, { id: userId, primary_email: email, primary_email_verified: false }, 15);
    }
    return answer(404, { code: 'NOT_FOUND', error: `no route ${route}` });
  };
}
