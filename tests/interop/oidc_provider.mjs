// A real authorization server for trimcp's auth tests: oidc-provider (a certified OpenID
// Provider) on 127.0.0.1:<port>, issuing access tokens for <resource> through the client
// credentials grant: RS256 JWTs, or opaque tokens (for introspection, RFC 7662, and revocation,
// RFC 7009) when the resource URL ends in /opaque. Usage: node oidc_provider.mjs <port> <resource>
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, resource] = process.argv.slice(2);
const scopes = 'mcp tools:read admin';
const provider = new Provider(`http://127.0.0.1:${port}`, {
  scopes: scopes.split(' '),
  clients: [
    {
      client_id: 'trimcp-tests',
      client_secret: 'trimcp-tests-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: scopes,
    },
  ],
  features: {
    devInteractions: { enabled: false },
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
http.createServer(provider.callback()).listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on ${port}`);
});
