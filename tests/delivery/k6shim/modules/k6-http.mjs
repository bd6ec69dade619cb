// Stand-in for 'k6/http': every request goes to globalThis.__k6shim.respond(request) and is recorded.
// Response objects carry the fields auth-flow.js reads: status, body, timings.duration, json(path).
const record = () => globalThis.__k6shim;

function response(status, body, durationMs) {
  const text = body === undefined ? '' : JSON.stringify(body);
  return {
    status,
    body: text,
    timings: { duration: durationMs },
    json(path) {
      const parsed = JSON.parse(text); // throws on a non-JSON body, as k6 does
      if (!path) return parsed;
      return path.split('.').reduce((node, key) => (node == null ? undefined : node[key]), parsed);
    },
  };
}

function send(method, url, body, params) {
  const request = {
    method,
    url,
    body: body === undefined || body === null ? null : body,
    headers: { ...((params && params.headers) || {}) },
    tags: { ...((params && params.tags) || {}) },
  };
  record().requests.push(request);
  const { status, json, durationMs } = record().respond(request);
  return response(status, json, durationMs);
}

export function get(url, params) {
  return send('GET', url, null, params);
}

export function post(url, body, params) {
  return send('POST', url, body, params);
}

export default { get, post };
