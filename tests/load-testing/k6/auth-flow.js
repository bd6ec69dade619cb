// Load test of the Stack Auth password flow, as a client app would drive it:
// sign-up, sign-in, token refresh, then GET /users/me with the fresh access token.
//
//   BASE_URL=https://api.staging.example.com PROJECT_ID=... PUBLISHABLE_CLIENT_KEY=... \
//   PROFILE=short k6 run --summary-export=summary.json tests/load-testing/k6/auth-flow.js
//
// Environment:
//   BASE_URL                 API origin (scheme and host, no path), e.g. https://api.staging.example.com
//   PROJECT_ID               Stack Auth project id            (header x-stack-project-id)
//   PUBLISHABLE_CLIENT_KEY   the project's publishable key    (header x-stack-publishable-client-key)
//   PROFILE                  short (default, ~5 min) or long (~45 min)
//   EMAIL_DOMAIN             domain of the throw-away test users (default example.com, which never receives mail)
//   VERIFICATION_CALLBACK_URL  optional; when set, sign-up asks Stack Auth to send a verification email to it.
//                            Left unset on purpose by default so a load test does not send thousands of emails.
//   TRUSTED_CALLER_HEADERS   optional JSON object of extra headers sent on every request, for a trusted
//                            load-test caller (see the rate limiter note below)
//
// The rate limiter is in the way, on purpose. Our gateway allows sign-in 5 per 15 minutes and sign-up 3 per hour
// per identity, and an anonymous request's identity is its client IP. A k6 runner is one IP, so without help the
// run measures the limiter, not Stack Auth: expect 429s (counted in `rate_limited_responses`) and a failed
// http_req_failed threshold. To measure the SLAs, either spread the virtual users across many source identities
// (several runners or egress IPs), or run as the trusted load-test caller: put the gateway's tier header and its
// HMAC signature header in TRUSTED_CALLER_HEADERS, e.g. '{"X-Rate-Limit-Tier":"admin","<signature header>":"..."}'.
// Every sign-up creates a new user; each user signs in once, so per-user limits are never the bottleneck.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

// The guide's SLAs, in milliseconds. tests/delivery checks these values exactly.
export const options = {
  thresholds: {
    http_req_duration: ['p(95)<2000', 'p(99)<5000'],
    http_req_failed: ['rate<0.05'],
    signup_duration: ['p(95)<3000'],
    signin_duration: ['p(95)<1500'],
    refresh_duration: ['p(95)<500'],
  },
  stages: profileStages(__ENV.PROFILE || 'short'),
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  tags: { testid: 'auth-flow' },
};

const signupDuration = new Trend('signup_duration', true);
const signinDuration = new Trend('signin_duration', true);
const refreshDuration = new Trend('refresh_duration', true);
const rateLimited = new Counter('rate_limited_responses');

const config = readConfig(__ENV);

function profileStages(profile) {
  const profiles = {
    // A smoke-sized run: reach 10 VUs, hold, ramp down.
    short: [
      { duration: '1m', target: 10 },
      { duration: '3m', target: 10 },
      { duration: '1m', target: 0 },
    ],
    // Sustained load with a peak: the weekly run.
    long: [
      { duration: '5m', target: 25 },
      { duration: '20m', target: 25 },
      { duration: '5m', target: 50 },
      { duration: '10m', target: 50 },
      { duration: '5m', target: 0 },
    ],
  };
  const stages = profiles[profile];
  if (!stages) {
    throw new Error(`PROFILE must be one of ${Object.keys(profiles).join(', ')}; got ${JSON.stringify(profile)}`);
  }
  return stages;
}

function readConfig(env) {
  const missing = ['BASE_URL', 'PROJECT_ID', 'PUBLISHABLE_CLIENT_KEY'].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new Error(`set ${missing.join(', ')} (see the header of auth-flow.js)`);
  }
  if (!/^https?:\/\/[^/]+$/.test(env.BASE_URL.replace(/\/+$/, ''))) {
    throw new Error(`BASE_URL must be an origin like https://api.example.com (no path); got ${env.BASE_URL}`);
  }
  let extraHeaders = {};
  if (env.TRUSTED_CALLER_HEADERS) {
    try {
      extraHeaders = JSON.parse(env.TRUSTED_CALLER_HEADERS);
    } catch (err) {
      throw new Error(`TRUSTED_CALLER_HEADERS must be a JSON object of header names to values: ${err.message}`);
    }
    if (extraHeaders === null || typeof extraHeaders !== 'object' || Array.isArray(extraHeaders)) {
      throw new Error('TRUSTED_CALLER_HEADERS must be a JSON object of header names to values');
    }
  }
  return {
    apiBase: `${env.BASE_URL.replace(/\/+$/, '')}/api/v1`,
    emailDomain: env.EMAIL_DOMAIN || 'example.com',
    verificationCallbackUrl: env.VERIFICATION_CALLBACK_URL || '',
    headers: {
      ...extraHeaders,
      'content-type': 'application/json',
      'x-stack-access-type': 'client',
      'x-stack-project-id': env.PROJECT_ID,
      'x-stack-publishable-client-key': env.PUBLISHABLE_CLIENT_KEY,
    },
  };
}

// setup runs once; its result reaches every iteration, so users of one run share a unique prefix.
export function setup() {
  return { runId: `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}` };
}

function request(method, path, body, extraHeaders, endpoint) {
  const params = {
    headers: { ...config.headers, ...extraHeaders },
    tags: { endpoint, name: `${method} /api/v1${path}` },
  };
  const url = `${config.apiBase}${path}`;
  const res = method === 'GET' ? http.get(url, params) : http.post(url, JSON.stringify(body), params);
  if (res.status === 429) {
    rateLimited.add(1, { endpoint });
  }
  return res;
}

function jsonField(res, field) {
  try {
    const value = res.json(field);
    return typeof value === 'string' ? value : '';
  } catch (_) {
    return '';
  }
}

export default function (data) {
  const email = `lt-${data.runId}-${__VU}-${__ITER}@${config.emailDomain}`;
  // Meets Stack Auth's password rules (8..70 characters); unique per user so no two share a hash.
  const password = `Lt-${data.runId}-${__VU}-${__ITER}-pw!`;

  const signUpBody = { email, password };
  if (config.verificationCallbackUrl) {
    signUpBody.verification_callback_url = config.verificationCallbackUrl;
  }
  const signUp = request('POST', '/auth/password/sign-up', signUpBody, {}, 'sign-up');
  signupDuration.add(signUp.timings.duration);
  const userId = jsonField(signUp, 'user_id');
  if (!check(signUp, {
    'sign-up status 200': (r) => r.status === 200,
    'sign-up returns tokens': (r) => jsonField(r, 'access_token') !== '' && jsonField(r, 'refresh_token') !== '',
  })) {
    return; // nothing to sign in with
  }
  sleep(1);

  const signIn = request('POST', '/auth/password/sign-in', { email, password }, {}, 'sign-in');
  signinDuration.add(signIn.timings.duration);
  const refreshToken = jsonField(signIn, 'refresh_token');
  if (!check(signIn, {
    'sign-in status 200': (r) => r.status === 200,
    'sign-in is the same user': (r) => jsonField(r, 'user_id') === userId,
    'sign-in returns a refresh token': () => refreshToken !== '',
  })) {
    return;
  }
  sleep(1);

  // Stack Auth's own clients send an empty JSON object here; the token travels in the header.
  const refresh = request('POST', '/auth/sessions/current/refresh', {},
    { 'x-stack-refresh-token': refreshToken }, 'refresh');
  refreshDuration.add(refresh.timings.duration);
  const accessToken = jsonField(refresh, 'access_token');
  if (!check(refresh, {
    'refresh status 200': (r) => r.status === 200,
    'refresh returns an access token': () => accessToken !== '',
  })) {
    return;
  }

  const me = request('GET', '/users/me', null, { 'x-stack-access-token': accessToken }, 'users-me');
  check(me, {
    'users/me status 200': (r) => r.status === 200,
    'users/me is the signed-in user': (r) => jsonField(r, 'id') === userId,
  });
  sleep(1);
}
