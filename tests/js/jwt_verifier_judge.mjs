// Okta's own JWT verifier for Node (@okta/jwt-verifier) judges tokens from the sandbox org.
// Input (argv[2], JSON): {issuer, audience, clientId, access: {name: token}, id: {name: {token, nonce}}}
// Output (stdout, JSON): {name: "ok" | "<error class>: <message>"} for every token given.
import OktaJwtVerifier from '@okta/jwt-verifier';

const input = JSON.parse(process.argv[2]);
const verifier = new OktaJwtVerifier({
  issuer: input.issuer,
  clientId: input.clientId,
  // the sandbox serves plain http on loopback; the library documents this switch for tests
  testing: { disableHttpsCheck: !input.issuer.startsWith('https://') },
});

const out = {};
for (const [name, token] of Object.entries(input.access || {})) {
  try {
    await verifier.verifyAccessToken(token, input.audience);
    out[name] = 'ok';
  } catch (err) {
    out[name] = `${err.name}: ${err.message}`;
  }
}
for (const [name, { token, nonce }] of Object.entries(input.id || {})) {
  try {
    await verifier.verifyIdToken(token, input.clientId, nonce);
    out[name] = 'ok';
  } catch (err) {
    out[name] = `${err.name}: ${err.message}`;
  }
}
process.stdout.write(JSON.stringify(out));
