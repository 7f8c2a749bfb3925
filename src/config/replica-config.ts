import { posix, resolve } from 'node:path';
import { availableReplicaSchemes, parseReplicaUrl, isRelativeFileUrl, isUrl, type ReplicaUrl } from '../storage/replica-url.js';
import { MIN_S3_PART_SIZE } from '../storage/s3/s3-settings.js';
import { AgeKeyError } from '../storage/age/age-errors.js';
import { AGE_IDENTITIES_OPTION, AGE_RECIPIENTS_OPTION, checkAgeRecipient, readAgeIdentities } from '../storage/age/age-settings.js';
import { DEFAULT_NATS_URL, DEFAULT_REPLICA_SYNC_INTERVAL_MS } from './defaults.js';
import { ConfigError, ValueSyntaxError, type ConfigLocation } from './errors.js';
import { nsToMs } from './go-duration.js';
import { suggestKey } from './key-suggestion.js';
import { expandPath, type PathContext } from './path-expand.js';
import {
  AGE_KEY,
  AGE_KEYS,
  REPLICA_LOCATION_SETTINGS,
  REPLICA_SETTINGS,
  REPLICA_TYPED_SETTINGS,
  REPLICA_TYPES,
  type ReplicaType,
} from './schema.js';
import type { ConfigWarning, ReplicaConfig, ReplicaOptionValue, ReplicaSettings } from './types.js';
import type { Section } from './yaml-source.js';

/** A replica setting as read, with where it was written (the replica section or the top level). */
export interface SettingValue {
  readonly value: ReplicaOptionValue;
  /** Where the value is written. */
  readonly location: ConfigLocation;
  /** Where its key is written. */
  readonly keyLocation: ConfigLocation;
}

export type RawReplicaSettings = ReadonlyMap<string, SettingValue>;

const AGE_IDENTITIES = AGE_IDENTITIES_OPTION;
const AGE_RECIPIENTS = AGE_RECIPIENTS_OPTION;

/** The replica settings written in one section (a replica, or the top level). */
export function readReplicaSettings(sec: Section, paths: PathContext): Map<string, SettingValue> {
  const out = new Map<string, SettingValue>();
  for (const [key, spec] of Object.entries(REPLICA_SETTINGS)) {
    if (!sec.has(key)) continue;
    let value: ReplicaOptionValue | undefined;
    switch (spec.kind) {
      case 'string':
        value = sec.string(key);
        break;
      case 'path': {
        const raw = sec.string(key)!;
        try {
          value = expandPath(raw, paths);
        } catch (err) {
          if (err instanceof ValueSyntaxError) throw sec.errorAt(key, err.message, err);
          throw err;
        }
        break;
      }
      case 'bool':
        value = sec.bool(key);
        break;
      case 'int':
        value = sec.int(key);
        break;
      case 'duration':
        value = nsToMs(sec.duration(key)!);
        break;
      case 'size':
        value = sec.size(key);
        break;
      case 'string-list':
        value = sec.stringList(key)?.join(',');
        break;
    }
    if (value !== undefined) out.set(key, { value, location: sec.locationOf(key), keyLocation: sec.keyLocationOf(key) });
  }
  const age = sec.section(AGE_KEY, AGE_KEYS);
  if (age !== undefined) {
    for (const k of AGE_KEYS) {
      const list = age.stringList(k);
      if (list !== undefined && list.length > 0) {
        out.set(`${AGE_KEY}.${k}`, { value: list.join(','), location: age.locationOf(k), keyLocation: age.keyLocationOf(k) });
      }
    }
  }
  return out;
}

/** A replica's own settings completed with the top-level ones (Litestream's SetDefaults). */
export function inheritSettings(own: RawReplicaSettings, defaults: RawReplicaSettings): Map<string, SettingValue> {
  const out = new Map(own);
  for (const [key, inherited] of defaults) {
    const mine = out.get(key);
    if (mine === undefined) out.set(key, inherited);
    else if (REPLICA_SETTINGS[key]?.inherit === 'or' && inherited.value === true) out.set(key, inherited);
  }
  return out;
}

/** Top-level replica settings in their public form. */
export function toReplicaSettings(raw: RawReplicaSettings): ReplicaSettings {
  const num = (k: string): number | undefined => raw.get(k)?.value as number | undefined;
  return {
    syncIntervalMs: num('sync-interval'),
    validationIntervalMs: num('validation-interval'),
    autoRecover: raw.get('auto-recover')?.value as boolean | undefined,
    options: optionsOf(raw),
  };
}

function optionsOf(raw: RawReplicaSettings): Record<string, ReplicaOptionValue> {
  const skip = new Set<string>([...REPLICA_TYPED_SETTINGS, ...REPLICA_LOCATION_SETTINGS]);
  const options: Record<string, ReplicaOptionValue> = {};
  for (const [key, { value }] of raw) if (!skip.has(key)) options[key] = value;
  return options;
}

export interface ReplicaBuildContext {
  readonly defaults: RawReplicaSettings;
  readonly paths: PathContext;
  readonly warn: (w: ConfigWarning) => void;
  /** The replica is one of several: its `name` tells it apart, so it is used, not deprecated. */
  readonly several?: boolean;
}

/** Reads and checks one replica section, with the top-level settings inherited. */
export function buildReplica(sec: Section, ctx: ReplicaBuildContext): ReplicaConfig {
  const own = readReplicaSettings(sec, ctx.paths);
  const settings = inheritSettings(own, ctx.defaults);
  const url = sec.string('url');
  const path = sec.string('path');
  const type = replicaType(sec, url, ctx);

  if (path !== undefined && isUrl(path)) {
    throw sec.errorAt('path', `a replica path cannot be a URL (${JSON.stringify(path)}); use the 'url' key`);
  }
  if (url !== undefined && path !== undefined) {
    if (type === 'nats') {
      ctx.warn({ message: 'path is ignored for nats replicas (the bucket holds the files)', location: sec.keyLocationOf('path') });
    } else {
      throw sec.errorAt('path', `cannot set both url and path on ${article(type)} replica; put the path in the url`);
    }
  }
  if (url !== undefined) {
    const location = type === 'webdav' ? 'webdav-url' : type === 'sftp' ? 'host' : type === 'file' ? undefined : 'bucket';
    if (location !== undefined && own.has(location) && type !== 'nats') {
      throw sec.errorAt(location, `cannot set both url and ${location} on ${article(type)} replica`);
    }
  }

  checkAgeBlock(settings, ctx.paths);

  checkSettings(settings, type, sec);
  for (const [key, v] of own) {
    const spec = REPLICA_SETTINGS[key];
    if (spec !== undefined && spec.appliesTo !== 'all' && !spec.appliesTo.includes(type)) {
      ctx.warn({ message: `${key} does not apply to ${type} replicas and is ignored`, location: v.keyLocation });
    }
  }
  const name = sec.string('name');
  if (name !== undefined && ctx.several !== true) {
    ctx.warn({ message: 'name is deprecated and ignored', location: sec.keyLocationOf('name') });
  }

  const options = optionsOf(settings);
  const builtUrl = replicaUrl(sec, type, url, path, settings, options, ctx.paths);
  const syncInterval = settings.get('sync-interval');
  return {
    type,
    url: builtUrl,
    name,
    syncIntervalMs: (syncInterval?.value as number | undefined) ?? DEFAULT_REPLICA_SYNC_INTERVAL_MS,
    validationIntervalMs: settings.get('validation-interval')?.value as number | undefined,
    autoRecover: (settings.get('auto-recover')?.value as boolean | undefined) ?? false,
    options,
    source: sec.src.location(sec.node, sec.keyPath),
  };
}

/**
 * The `age` block (Litestream v0.3's client-side encryption, which v0.5
 * dropped): recipients are checked here so a bad one points at the file, and
 * an identity that is not a key is an identity file, its path expanded like
 * any other path in the config.
 */
function checkAgeBlock(settings: Map<string, SettingValue>, paths: PathContext): void {
  const recipients = settings.get(AGE_RECIPIENTS);
  for (const r of typeof recipients?.value === 'string' ? recipients.value.split(',') : []) {
    const reason = checkAgeRecipient(r);
    if (reason !== undefined) throw new ConfigError(recipients!.location, `age recipient: ${reason}`);
  }
  const identities = settings.get(AGE_IDENTITIES);
  if (identities === undefined || typeof identities.value !== 'string') return;
  const entries: string[] = [];
  for (const raw of identities.value.split(',')) {
    try {
      const entry = raw.startsWith('AGE-') || raw.startsWith('age1') ? raw : expandPath(raw, paths);
      readAgeIdentities(entry);
      entries.push(entry);
    } catch (err) {
      if (err instanceof ValueSyntaxError || err instanceof AgeKeyError) throw new ConfigError(identities.location, err.message, { cause: err });
      throw err;
    }
  }
  settings.set(AGE_IDENTITIES, { ...identities, value: entries.join(',') });
}

/** The backend: a URL's scheme wins over `type` (Litestream's rule), and `file` when neither is given. */
function replicaType(sec: Section, url: string | undefined, ctx: ReplicaBuildContext): ReplicaType {
  const written = sec.string('type');
  if (written !== undefined && !isReplicaType(written)) {
    throw sec.errorAt('type', `unknown replica type ${JSON.stringify(written)}${typeHint(written)}`);
  }
  if (url === undefined) return written ?? 'file';
  if (!isUrl(url)) {
    const reason = `${JSON.stringify(url)} is not a URL (expected scheme://..., e.g. s3://bucket/path); a local directory goes in 'path'`;
    throw sec.errorAt('url', reason);
  }
  const scheme = url.slice(0, url.indexOf('://')).toLowerCase();
  const fromUrl = scheme === 'webdavs' ? 'webdav' : scheme;
  if (!isReplicaType(fromUrl)) {
    throw sec.errorAt('url', `unknown replica URL scheme ${JSON.stringify(scheme)}${typeHint(scheme)}`);
  }
  if (fromUrl === 'file' && isRelativeFileUrl(url)) {
    const rest = fileUrlRest(url);
    ctx.warn({
      message: `${url} is the directory ${rest} under the working directory; Litestream reads it as /${rest}, so write file:///${rest} or a path for both to agree`,
      location: sec.keyLocationOf('url'),
    });
  }
  if (written !== undefined && written !== fromUrl) {
    ctx.warn({
      message: `type ${written} is ignored: the url scheme makes this ${article(fromUrl)} replica`,
      location: sec.keyLocationOf('type'),
    });
  }
  return fromUrl;
}

/** "an s3", "a file": the article goes by how the name is spoken. */
function article(type: ReplicaType): string {
  return ['s3', 'sftp', 'abs', 'oss'].includes(type) ? `an ${type}` : `a ${type}`;
}

function isReplicaType(s: string): s is ReplicaType {
  return (REPLICA_TYPES as readonly string[]).includes(s);
}

function typeHint(s: string): string {
  const hint = suggestKey(s, REPLICA_TYPES);
  if (hint !== '') return hint;
  // Only the backends whose packages are installed here: naming one that cannot load would only move the error.
  const available = availableReplicaSchemes();
  return ` (supported: ${REPLICA_TYPES.filter((t) => available.includes(t)).join(', ')})`;
}

/** Value checks Litestream makes when it builds the replica, made here so they point at the file. */
function checkSettings(settings: RawReplicaSettings, type: ReplicaType, sec: Section): void {
  const at = (key: string, reason: string): never => {
    const v = settings.get(key);
    throw v !== undefined ? new ConfigError(v.location, reason) : sec.error(reason);
  };
  const num = (key: string): number | undefined => settings.get(key)?.value as number | undefined;

  const sync = num('sync-interval');
  if (sync !== undefined && sync <= 0) at('sync-interval', 'sync interval must be greater than 0');
  if (type === 's3' || type === 'oss') {
    const part = num('part-size');
    if (part !== undefined && part <= 0) at('part-size', 'part size must be greater than 0');
    if (type === 's3' && part !== undefined && part < MIN_S3_PART_SIZE) {
      at('part-size', `part size ${part} is below S3's minimum of 5 MiB (${MIN_S3_PART_SIZE} bytes)`);
    }
    const conc = num('concurrency');
    if (conc !== undefined && conc < 1) at('concurrency', 'concurrency must be at least 1');
  }
  if (type === 's3') {
    const algo = settings.get('sse-customer-algorithm')?.value;
    if (algo !== undefined && algo !== 'AES256') {
      at('sse-customer-algorithm', `unsupported SSE-C algorithm ${JSON.stringify(algo)} (only AES256)`);
    }
    const sseC = settings.has('sse-customer-key') || settings.has('sse-customer-key-path');
    if (sseC && settings.has('sse-kms-key-id')) at('sse-kms-key-id', 'SSE-KMS cannot be combined with SSE-C (sse-customer-key)');
  }
  if (type === 'nats' && settings.has('client-cert') !== settings.has('client-key')) {
    at(settings.has('client-cert') ? 'client-cert' : 'client-key', 'client-cert and client-key must be given together');
  }
  if (type === 'nats') {
    const wait = num('reconnect-wait');
    if (wait !== undefined && wait < 0) at('reconnect-wait', 'reconnect-wait must not be negative');
    const timeout = num('timeout');
    if (timeout !== undefined && timeout <= 0) at('timeout', 'timeout must be greater than 0');
  }
}

/** The replica's location as one URL string that parseReplicaUrl accepts. */
function replicaUrl(
  sec: Section,
  type: ReplicaType,
  url: string | undefined,
  path: string | undefined,
  settings: RawReplicaSettings,
  options: Record<string, ReplicaOptionValue>,
  paths: PathContext,
): string {
  const str = (key: string): string | undefined => {
    const v = settings.get(key)?.value;
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const parsed = url === undefined || type === 'oss' ? undefined : parseUrlAt(sec, url);
  const fillFromUserinfo = (userKey: string, passwordKey: string | undefined): void => {
    if (parsed === undefined || parsed.scheme === 'file' || parsed.userinfo === undefined) return;
    if (options[userKey] === undefined && parsed.userinfo.username !== '') options[userKey] = parsed.userinfo.username;
    if (passwordKey !== undefined && options[passwordKey] === undefined && parsed.userinfo.password !== undefined) {
      options[passwordKey] = parsed.userinfo.password;
    }
  };

  switch (type) {
    case 'file': {
      if (parsed !== undefined) {
        // A relative file URL is relative to the configuration's working directory, as a relative 'path' is.
        if (url !== undefined && isRelativeFileUrl(url)) return resolve(paths.cwd, decodeURIComponent(fileUrlRest(url)));
        return (parsed as { path: string }).path;
      }
      if (path === undefined || path === '') throw sec.error("a file replica needs 'path' (a directory) or a file:// 'url'");
      try {
        return expandPath(path, paths);
      } catch (err) {
        if (err instanceof ValueSyntaxError) throw sec.errorAt('path', err.message, err);
        throw err;
      }
    }
    case 's3':
    case 'gs':
    case 'abs':
    case 'oss': {
      if (url !== undefined) {
        if (type === 'oss' && !/^oss:\/\/[^/?#]+/i.test(url)) {
          throw sec.errorAt('url', `replica URL ${JSON.stringify(url)}: missing bucket`);
        }
        if (type === 'abs') fillFromUserinfo('account-name', undefined);
        return url;
      }
      const bucket = str('bucket');
      if (bucket === undefined) {
        throw sec.error(`${article(type)} replica needs 'url' (${type}://${type === 'abs' ? 'container' : 'bucket'}/path) or 'bucket'`);
      }
      return `${type}://${bucket}${encodePath(path)}`;
    }
    case 'sftp': {
      if (parsed === undefined) {
        const host = str('host');
        if (host === undefined) throw sec.error("an sftp replica needs 'url' (sftp://user@host/path) or 'host'");
        if (str('user') === undefined) throw sec.error("an sftp replica needs a user ('user' or user@ in the url)");
        return `sftp://${host}${path?.startsWith('/') === true ? absoluteSftpPath(encodePath(path)) : encodePath(path)}`;
      }
      fillFromUserinfo('user', 'password');
      if (options['user'] === undefined) throw sec.errorAt('url', "an sftp replica needs a user ('user' or user@ in the url)");
      return absoluteSftpUrl(url!);
    }
    case 'webdav': {
      if (parsed !== undefined) {
        fillFromUserinfo('webdav-username', 'webdav-password');
        return url!;
      }
      const server = str('webdav-url');
      if (server === undefined) throw sec.error("a webdav replica needs 'url' (webdav[s]://host/path) or 'webdav-url'");
      let u: URL;
      try {
        u = new URL(server);
      } catch (err) {
        throw new ConfigError(settings.get('webdav-url')!.location, `invalid webdav-url ${JSON.stringify(server)}`, { cause: err });
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        const reason = `webdav-url must start with http:// or https:// (got ${JSON.stringify(server)})`;
        throw new ConfigError(settings.get('webdav-url')!.location, reason);
      }
      const scheme = u.protocol === 'https:' ? 'webdavs' : 'webdav';
      return `${scheme}://${u.host}${encodePath(posix.join(decodeURIComponent(u.pathname), path ?? ''))}`;
    }
    case 'nats': {
      let base = DEFAULT_NATS_URL;
      let bucket = str('bucket');
      if (parsed !== undefined && parsed.scheme !== 'file') {
        base = `nats://${parsed.host}`;
        if (parsed.path !== '') bucket = parsed.path;
        fillFromUserinfo('username', 'password');
      }
      if (bucket === undefined) throw sec.error("a nats replica needs a bucket ('bucket' or nats://host/bucket)");
      return `${base}/${encodeURIComponent(bucket)}`;
    }
  }
}

function parseUrlAt(sec: Section, url: string): ReplicaUrl {
  try {
    return parseReplicaUrl(url);
  } catch (err) {
    throw sec.errorAt('url', err instanceof Error ? err.message : String(err), err);
  }
}

/**
 * In a config file Litestream takes an SFTP path (from `path`, or from the
 * path of `url`) as absolute, while on the command line an `sftp://` URL's
 * path is relative to the login directory. A second leading slash is how
 * the SFTP backend is told a URL's path is absolute.
 */
function absoluteSftpPath(encoded: string): string {
  return encoded === '' ? '' : `/${encoded}`;
}

function absoluteSftpUrl(url: string): string {
  return url.replace(/^(sftp:\/\/[^/?#]*)(\/(?!\/)[^?#]*)/i, (_, authority: string, path: string) => `${authority}/${path}`);
}

/** `/seg/seg` with each segment percent-encoded, or '' for an empty path. */
export function encodePath(p: string | undefined): string {
  if (p === undefined || p === '') return '';
  const clean = posix.normalize('/' + p).replace(/^\/+/, '').replace(/\/+$/, '');
  if (clean === '' || clean === '.') return '';
  return '/' + clean.split('/').map(encodeURIComponent).join('/');
}

/** What follows `file://`, without a query or fragment. */
function fileUrlRest(url: string): string {
  return url.slice('file://'.length).replace(/[?#].*$/s, '');
}
