// A real authorization server for trimcp's auth tests: oidc-provider (a certified OpenID
// Provider) on 127.0.0.1:<port>, issuing access tokens for <resource> through the client
// credentials grant: RS256 JWTs, or opaque tokens (for introspection, RFC 7662, and revocation,
// RFC 7009) when the resource URL ends in /opaque. Usage: node oidc_provider.mjs <port> <resource>
//
// For the client's authorization-code tests it also serves a public client 'trimcp-code' (PKCE,
// redirect http://127.0.0.1:8765/callback), dynamic registration, refresh tokens for any client
// allowed the grant, and an interaction page that approves at once: the user 'alice' logs in and
// consents to every scope asked for, so a test's "browser" only follows redirects (with cookies).
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, resource] = process.argv.slice(2);
const scopes = 'mcp tools:read admin';
const provider = new Provider(`http://127.0.0.1:${port}`, {
  scopes: [...scopes.split(' '), 'openid', 'offline_access'],
  clients: [
    {
      client_id: 'trimcp-code',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['http://127.0.0.1:8765/callback'],
      application_type: 'native',
      scope: `${scopes} offline_access`,
    },
    {
      client_id: 'trimcp-tests',
      client_secret: 'trimcp-tests-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: scopes,
    },
  ],
  interactions: { url: (ctx, interaction) => `/approve/${interaction.uid}` },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => ({
        scope: scopes,
        audience: indicator,
        accessTokenTTL: 300,
        accessTokenFormat: indicator.endsWith('/opaque') ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
// The interaction page: log 'alice' in, then grant what the client asked for.
async function approve(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: 'alice' } });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  for (const [indicator, wanted] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, wanted.join(' '));
  }
  return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
http.createServer((req, res) => (req.url.startsWith('/approve/') ? approve(req, res) : callback(req, res))).listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on ${port}`);
});
