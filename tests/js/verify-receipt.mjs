// Verifies a sammen consent receipt (a compact JWS, EdDSA over Ed25519) with panva's `jose`,
// an implementation independent of the gateway's, against the portal's published JWKS.
//
//   node tests/js/verify-receipt.mjs JWKS_FILE JWS_FILE
//
// Prints one JSON line: {"ok":true,"alg":…,"kid":…,"receipt_id":…,"consent_id":…} and exits
// 0, or {"ok":false,"code":…} and exits 1. The receipt names the citizen (a CPR number):
// nothing of the payload but its ids is printed.
import { readFileSync } from 'node:fs';
import { compactVerify, createLocalJWKSet } from 'jose';

const [jwksFile, jwsFile] = process.argv.slice(2);
if (!jwksFile || !jwsFile) {
  console.error('usage: verify-receipt.mjs JWKS_FILE JWS_FILE');
  process.exit(2);
}
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
const jws = readFileSync(jwsFile, 'utf8').trim();
try {
  const { payload, protectedHeader } = await compactVerify(jws, jwks, { algorithms: ['EdDSA'] });
  const receipt = JSON.parse(new TextDecoder().decode(payload));
  console.log(JSON.stringify({
    ok: true,
    alg: protectedHeader.alg,
    kid: protectedHeader.kid,
    receipt_id: receipt.receipt_id,
    consent_id: receipt.consent_id,
  }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code ?? e.name }));
  process.exit(1);
}
