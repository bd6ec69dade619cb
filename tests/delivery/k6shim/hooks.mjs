// Module resolution hooks: the k6 built-in modules resolve to the stand-ins in ./modules, so node can load a
// k6 script. Only what auth-flow.js uses is provided; anything else fails loudly.
const provided = new Map([
  ['k6', 'k6.mjs'],
  ['k6/http', 'k6-http.mjs'],
  ['k6/metrics', 'k6-metrics.mjs'],
  ['k6/crypto', 'k6-crypto.mjs'],
]);

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'k6' || specifier.startsWith('k6/')) {
    const file = provided.get(specifier);
    if (!file) {
      throw new Error(`the k6 stand-in has no module ${specifier}; add one under tests/delivery/k6shim/modules`);
    }
    return { url: new URL(`./modules/${file}`, import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
