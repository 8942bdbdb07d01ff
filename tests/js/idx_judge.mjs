// Okta's own client as a judge: @okta/okta-auth-js signs in / registers through the IDX API.
// Usage: node idx_judge.mjs authenticate|register  (config as JSON in OKTA_JUDGE_CONFIG)
// Prints one JSON line: the transaction status, messages, next step and token claims.
import { OktaAuth } from '@okta/okta-auth-js';

const mode = process.argv[2];
const cfg = JSON.parse(process.env.OKTA_JUDGE_CONFIG || '{}');
const auth = new OktaAuth({
  issuer: cfg.issuer,
  clientId: cfg.clientId,
  redirectUri: cfg.redirectUri,
  scopes: cfg.scopes || ['openid', 'profile', 'email'],
  pkce: true,
  // the SDK's remediators drive every step (auth-js 7 behaviour; 8 defaults to one step per call)
  idx: { enableLegacyMode: true },
  decodeAccessTokens: true,
  testing: { disableHttpsCheck: true },
});

let tx;
if (mode === 'authenticate') {
  tx = await auth.idx.authenticate({ username: cfg.username, password: cfg.password });
} else if (mode === 'register') {
  tx = await auth.idx.register({
    firstName: cfg.firstName,
    lastName: cfg.lastName,
    email: cfg.email,
    password: cfg.password,
    authenticators: ['okta_password'],
  });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
const tokens = tx.tokens || {};
console.log(JSON.stringify({
  status: tx.status,
  messages: (tx.messages || []).map((m) => m.message),
  nextStep: tx.nextStep ? tx.nextStep.name : null,
  error: tx.error ? String(tx.error.errorSummary || tx.error.message || tx.error) : null,
  accessClaims: tokens.accessToken ? tokens.accessToken.claims : null,
  idClaims: tokens.idToken ? tokens.idToken.claims : null,
}));
