// Load test of the Stack Auth password flow, as a client app would drive it:
// sign-up, sign-in, token refresh, then GET /users/me with the fresh access token.
//
//   BASE_URL=https://api.staging.example.com PROJECT_ID=... PUBLISHABLE_CLIENT_KEY=... \
//   PROFILE=short k6 run --summary-export=summary.json tests/load-testing/k6/auth-flow.js
//
// Environment:
//   BASE_URL                   API origin (scheme and host, no path), e.g. https://api.staging.example.com
//   PROJECT_ID                 Stack Auth project id          (header x-stack-project-id)
//   PUBLISHABLE_CLIENT_KEY     the project's publishable key  (header x-stack-publishable-client-key)
//   PROFILE                    short (default, ~5 min) or long (~45 min)
//   EMAIL_DOMAIN               domain of the throw-away users (default example.com, which receives no mail)
//   VERIFICATION_CALLBACK_URL  optional; when set, sign-up asks Stack Auth to email a verification link.
//                              Unset by default so that a load test sends no emails.
//   RATE_LIMIT_CALLER_SECRET   optional; the rate-limit gateway's TRUSTED_CALLER_HMAC_SECRET: requests are then
//                              signed as the trusted load-test caller (below)
//   RATE_LIMIT_TIER            tier the trusted caller claims (default admin)
//
// The run meets the rate limiter, on purpose. The gateway allows sign-in 5 per 15 minutes and sign-up 3 per
// hour per identity, and an anonymous request's identity is its client IP: one k6 runner is one identity.
// Without help, the run measures the limiter and not Stack Auth: expect 429s (counted in
// rate_limited_responses) and a failed http_req_failed threshold. Two ways to measure the SLAs:
//   - spread the virtual users across many source identities (several runners or egress IPs), or
//   - run as the trusted load-test caller: with RATE_LIMIT_CALLER_SECRET set, every request carries
//     X-Rate-Limit-Tier, an X-User-Id unique to the iteration and X-Rate-Limit-Signature, the HMAC the
//     gateway verifies, so each iteration is its own identity and no per-identity limit is reached.
// Every sign-up creates a new user, and each user signs in once.
import http from 'k6/http';
import crypto from 'k6/crypto';
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
    // Reach 10 VUs, hold, ramp down.
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
  const origin = env.BASE_URL.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(origin)) {
    throw new Error(`BASE_URL must be an origin like https://api.example.com (no path); got ${env.BASE_URL}`);
  }
  return {
    origin,
    emailDomain: env.EMAIL_DOMAIN || 'example.com',
    verificationCallbackUrl: env.VERIFICATION_CALLBACK_URL || '',
    callerSecret: env.RATE_LIMIT_CALLER_SECRET || '',
    callerTier: (env.RATE_LIMIT_TIER || 'admin').toLowerCase(),
    headers: {
      'content-type': 'application/json',
      'x-stack-access-type': 'client',
      'x-stack-project-id': env.PROJECT_ID,
      'x-stack-publishable-client-key': env.PUBLISHABLE_CLIENT_KEY,
    },
  };
}

// The gateway's trusted-caller headers: an HMAC-SHA256 over "v1\n<unix seconds>\n<METHOD>\n<path>\n<tier>\n<user>",
// valid for a few minutes, so it is computed per request.
function trustedCallerHeaders(method, path, user) {
  if (!config.callerSecret) {
    return {};
  }
  const ts = Math.floor(Date.now() / 1000).toString();
  const payload = ['v1', ts, method, path, config.callerTier, user].join('\n');
  return {
    'X-Rate-Limit-Tier': config.callerTier,
    'X-User-Id': user,
    'X-Rate-Limit-Signature': `t=${ts},v1=${crypto.hmac('sha256', config.callerSecret, payload, 'hex')}`,
  };
}

// setup runs once; its result reaches every iteration, so the users of one run share a unique prefix.
export function setup() {
  return { runId: `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}` };
}

function request(caller, method, endpoint, apiPath, body, extraHeaders) {
  const path = `/api/v1${apiPath}`;
  const params = {
    headers: { ...config.headers, ...trustedCallerHeaders(method, path, caller), ...extraHeaders },
    tags: { endpoint, name: `${method} ${path}` },
  };
  const url = `${config.origin}${path}`;
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
  const caller = `lt-${data.runId}-${__VU}-${__ITER}`;
  const email = `${caller}@${config.emailDomain}`;
  // Within Stack Auth's password rules (8 to 70 characters), and different for every user.
  const password = `Lt-${caller}-pw!`;

  const signUpBody = { email, password };
  if (config.verificationCallbackUrl) {
    signUpBody.verification_callback_url = config.verificationCallbackUrl;
  }
  const signUp = request(caller, 'POST', 'sign-up', '/auth/password/sign-up', signUpBody, {});
  signupDuration.add(signUp.timings.duration);
  const userId = jsonField(signUp, 'user_id');
  if (!check(signUp, {
    'sign-up status 200': (r) => r.status === 200,
    'sign-up returns tokens': (r) => jsonField(r, 'access_token') !== '' && jsonField(r, 'refresh_token') !== '',
  })) {
    return; // nothing to sign in with
  }
  sleep(1);

  const signIn = request(caller, 'POST', 'sign-in', '/auth/password/sign-in', { email, password }, {});
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
  const refresh = request(caller, 'POST', 'refresh', '/auth/sessions/current/refresh', {},
    { 'x-stack-refresh-token': refreshToken });
  refreshDuration.add(refresh.timings.duration);
  const accessToken = jsonField(refresh, 'access_token');
  if (!check(refresh, {
    'refresh status 200': (r) => r.status === 200,
    'refresh returns an access token': () => accessToken !== '',
  })) {
    return;
  }

  const me = request(caller, 'GET', 'users-me', '/users/me', null, { 'x-stack-access-token': accessToken });
  check(me, {
    'users/me status 200': (r) => r.status === 200,
    'users/me is the signed-in user': (r) => jsonField(r, 'id') === userId,
  });
  sleep(1);
}
