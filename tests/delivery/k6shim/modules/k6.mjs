// Stand-in for k6's 'k6' module: records checks and sleeps instead of timing anything.
const record = () => globalThis.__k6shim;

export function check(value, checks, tags) {
  let allPassed = true;
  for (const [name, predicate] of Object.entries(checks)) {
    const passed = Boolean(predicate(value));
    record().checks.push({ name, passed, tags: tags || {} });
    allPassed = allPassed && passed;
  }
  return allPassed;
}

export function sleep(seconds) {
  record().sleeps.push(seconds);
}

export function group(name, fn) {
  return fn();
}

export function fail(message) {
  throw new Error(message);
}

export default { check, sleep, group, fail };
