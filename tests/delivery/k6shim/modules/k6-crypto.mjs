// Stand-in for 'k6/crypto': hmac(algorithm, secret, data, outputEncoding) on node's crypto.
import { createHmac } from 'node:crypto';

export function hmac(algorithm, secret, data, outputEncoding) {
  if (outputEncoding !== 'hex' && outputEncoding !== 'base64') {
    throw new Error(`the k6/crypto stand-in supports hex and base64 output, not ${outputEncoding}`);
  }
  return createHmac(algorithm, secret).update(data).digest(outputEncoding);
}

export default { hmac };
