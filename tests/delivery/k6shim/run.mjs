// Loads a k6 script under node with stand-ins for k6's modules, and prints what k6 would see as JSON:
//   node run.mjs options   <script>              the evaluated `options` export
//   node run.mjs iteration <script> [429-path]   setup() and one iteration of the default function against
//                                                the fake Stack Auth API (optionally answering 429 on a path)
// The script's environment (__ENV) is this process's environment, as with `k6 run`.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { createFakeStackAuth } from './fake-stack-auth.mjs';

const [mode, scriptPath, rateLimitedPath] = process.argv.slice(2);
if (!['options', 'iteration'].includes(mode) || !scriptPath) {
  console.error('usage: node run.mjs options|iteration <script> [429-path]');
  process.exit(2);
}

register('./hooks.mjs', import.meta.url);
globalThis.__ENV = { ...process.env };
globalThis.__VU = 1;
globalThis.__ITER = 0;
globalThis.__k6shim = {
  requests: [],
  checks: [],
  sleeps: [],
  metrics: {},
  respond: () => {
    throw new Error('a request was made in the init context');
  },
};

const script = await import(pathToFileURL(path.resolve(scriptPath)).href);
if (mode === 'options') {
  console.log(JSON.stringify({ options: script.options }));
} else {
  globalThis.__k6shim.respond = createFakeStackAuth({
    apiBase: process.env.BASE_URL.replace(/\/+$/, ''),
    projectId: process.env.PROJECT_ID,
    publishableClientKey: process.env.PUBLISHABLE_CLIENT_KEY,
    rateLimited: rateLimitedPath ? [rateLimitedPath] : [],
  });
  const data = script.setup ? script.setup() : undefined;
  script.default(data);
  const { requests, checks, sleeps, metrics } = globalThis.__k6shim;
  console.log(JSON.stringify({ requests, checks, sleeps, metrics }));
}
