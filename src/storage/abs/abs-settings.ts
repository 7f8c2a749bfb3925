import { ReplicaUrlError } from '../errors.js';
import type { RemoteReplicaUrl, ReplicaClientOptions } from '../replica-url.js';

/** One value of a replica's configuration, as a YAML loader hands it over. */
type ReplicaOptionValue = ReplicaClientOptions[string];

/** Azure's public cloud: `https://<account>.blob.core.windows.net`, Litestream's default endpoint. */
export const DEFAULT_ABS_ENDPOINT_SUFFIX = 'blob.core.windows.net';

/**
 * Environment variables read when the options name no credential, in the
 * order tried; Litestream reads the LITESTREAM_ ones.
 */
export const ABS_ACCOUNT_KEY_ENV = ['TIDEMARK_AZURE_ACCOUNT_KEY', 'LITESTREAM_AZURE_ACCOUNT_KEY'] as const;
export const ABS_SAS_TOKEN_ENV = ['TIDEMARK_AZURE_SAS_TOKEN', 'LITESTREAM_AZURE_SAS_TOKEN'] as const;

export type AbsCredential =
  /** A shared access signature, sent as the query string of every request. */
  | { kind: 'sas'; token: string }
  /** The storage account's shared key, which signs every request. */
  | { kind: 'shared-key'; accountName: string; accountKey: string }
  /** Microsoft Entra ID (Azure AD) through DefaultAzureCredential: AZURE_CLIENT_ID/…, workload or managed identity, the Azure CLI. */
  | { kind: 'azure-ad' };

/** Everything an Azure Blob Storage replica client needs, resolved from the URL, the replica options and the environment. */
export interface AbsSettings {
  /** Storage account; undefined when only a SAS token and an endpoint are given. */
  accountName: string | undefined;
  container: string;
  /** Blob name prefix without leading or trailing '/'; '' for the container root. */
  path: string;
  /** Blob service URL with its scheme and without a trailing '/'; for Azurite this includes the account path. */
  endpoint: string;
  /** Whether the endpoint was given (rather than derived from the account name), so messages show it. */
  customEndpoint: boolean;
  credential: AbsCredential;
  /** Where the credential came from, for error messages. */
  credentialSource: string;
}

type Fail = (reason: string) => never;

/**
 * Works out an Azure replica's settings the way Litestream does:
 * - `abs://[account@]container/path`; the `account-name`, `bucket` (the
 *   container) and `path` options may stand in for the URL's parts, but the
 *   container or the path may not be named in both;
 * - the endpoint is the `endpoint` option, else `https://<account>.blob.core.windows.net`.
 *   As a tidemark extension (Litestream's Azure URLs take no query), a URL may
 *   carry `?endpoint=`, so a replica URL given on the command line can name an
 *   emulator or a sovereign cloud; the option wins over it;
 * - credentials, in Litestream's priority: a SAS token (`sas-token`, else
 *   LITESTREAM_AZURE_SAS_TOKEN), else the account key (`account-key`, else
 *   LITESTREAM_AZURE_ACCOUNT_KEY) with the account name. The TIDEMARK_AZURE_*
 *   variables are read before the LITESTREAM_AZURE_* ones.
 *   With neither, Litestream's fallback: DefaultAzureCredential (Azure AD),
 *   through the optional @azure/identity package.
 */
export function resolveAbsSettings(
  url: RemoteReplicaUrl,
  rawUrl: string,
  options: ReplicaClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): AbsSettings {
  const fail: Fail = (reason) => {
    throw new ReplicaUrlError(rawUrl, reason);
  };
  const opt = (key: string): string | undefined => optString(options[key], key, fail);

  const optContainer = opt('bucket');
  const optPath = opt('path');
  if (optContainer !== undefined && optContainer !== url.host) fail('cannot specify both a URL container and the bucket option for an abs replica');
  if (optPath !== undefined && url.path !== '' && trimSlashes(optPath) !== url.path) {
    fail('cannot specify both a URL path and the path option for an abs replica');
  }
  const container = url.host;
  checkContainerName(container, fail);
  const path = url.path !== '' ? url.path : trimSlashes(optPath ?? '');

  const urlAccount = url.userinfo?.username;
  const accountName = opt('account-name') ?? (urlAccount === undefined || urlAccount === '' ? undefined : urlAccount);

  const queryEndpoint = url.query.get('endpoint');
  const givenEndpoint = opt('endpoint') ?? (queryEndpoint === null || queryEndpoint === '' ? undefined : queryEndpoint);
  let endpoint: string;
  if (givenEndpoint !== undefined) {
    endpoint = checkEndpoint(givenEndpoint, fail);
  } else {
    if (accountName === undefined) fail('an abs replica needs an account name (abs://ACCOUNT@CONTAINER/PATH or the account-name option) when no endpoint is set');
    endpoint = `https://${accountName}.${DEFAULT_ABS_ENDPOINT_SUFFIX}`;
  }

  const { credential, credentialSource } = resolveCredential(opt, accountName, env, fail);
  return { accountName, container, path, endpoint, customEndpoint: givenEndpoint !== undefined, credential, credentialSource };
}

/** `abs://account@container/path [at endpoint]`, how a replica is named in messages (never with credentials). */
export function describeAbsReplica(s: Pick<AbsSettings, 'accountName' | 'container' | 'path' | 'endpoint' | 'customEndpoint'>): string {
  const account = s.accountName === undefined ? '' : `${s.accountName}@`;
  const name = `abs://${account}${s.container}${s.path === '' ? '' : `/${s.path}`}`;
  return s.customEndpoint ? `${name} at ${s.endpoint}` : name;
}

function optString(v: ReplicaOptionValue, key: string, fail: Fail): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') fail(`option ${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

/** Azure's rule: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit. */
const CONTAINER_NAME_RE = /^(?=.{3,63}$)[a-z0-9](?:-?[a-z0-9])*$/;

function checkContainerName(name: string, fail: Fail): void {
  // $root and $web are the containers Azure itself names with a '$'.
  if (name === '$root' || name === '$web') return;
  if (!CONTAINER_NAME_RE.test(name)) {
    fail(`container name ${JSON.stringify(name)} is not valid on Azure (3-63 lower-case letters, digits and single hyphens)`);
  }
}

function checkEndpoint(endpoint: string, fail: Fail): string {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return fail(`endpoint ${JSON.stringify(endpoint)} is not a URL (e.g. https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`endpoint ${JSON.stringify(endpoint)} must start with http:// or https://`);
  if (u.host === '') fail(`endpoint ${JSON.stringify(endpoint)} has no host`);
  if (u.search !== '') fail(`endpoint ${JSON.stringify(endpoint)} has a query; give a SAS token with the sas-token option instead`);
  return endpoint.replace(/\/+$/, '');
}

function fromEnv(env: NodeJS.ProcessEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

function resolveCredential(
  opt: (key: string) => string | undefined,
  accountName: string | undefined,
  env: NodeJS.ProcessEnv,
  fail: Fail,
): { credential: AbsCredential; credentialSource: string } {
  const sasOpt = opt('sas-token');
  const sas = sasOpt !== undefined ? { name: 'the sas-token option', value: sasOpt } : fromEnv(env, ABS_SAS_TOKEN_ENV);
  if (sas !== undefined) {
    const token = sas.value.replace(/^\?/, '');
    if (token === '') fail(`the SAS token from ${sas.name} is empty`);
    return { credential: { kind: 'sas', token }, credentialSource: sas.name };
  }
  const keyOpt = opt('account-key');
  const key = keyOpt !== undefined ? { name: 'the account-key option', value: keyOpt } : fromEnv(env, ABS_ACCOUNT_KEY_ENV);
  if (key !== undefined) {
    if (accountName === undefined) fail(`an account key (from ${key.name}) needs the account name: abs://ACCOUNT@CONTAINER/PATH or the account-name option`);
    return { credential: { kind: 'shared-key', accountName: accountName!, accountKey: key.value }, credentialSource: key.name };
  }
  // Litestream's last resort: a token from Microsoft Entra ID, found by @azure/identity when the client starts.
  return { credential: { kind: 'azure-ad' }, credentialSource: AZURE_AD_CREDENTIAL_SOURCE };
}

/** How the Azure AD fallback is named in messages: where DefaultAzureCredential looks, and what else would do. */
export const AZURE_AD_CREDENTIAL_SOURCE =
  'Azure AD (DefaultAzureCredential: AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, workload or managed identity, the Azure CLI), ' +
  'used because no account key (account-key, LITESTREAM_AZURE_ACCOUNT_KEY) or SAS token (sas-token, LITESTREAM_AZURE_SAS_TOKEN) is set';
