import { TidemarkError } from '../../errors.js';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * One ranged media download from the JSON API, made with Node's own HTTP
 * client. The SDK's read stream sits on node-fetch 2, whose body of a
 * response with a Content-Length neither ends nor fails when the connection
 * is cut mid-body: a restore would wait out the whole idle timeout at every
 * cut. Here a cut fails the read at once and it resumes. The SDK still
 * provides the credentials (its auth client's headers).
 */

/** Cloud Storage's JSON API, where a download goes when no emulator is set. */
export const GS_API_ORIGIN = 'https://storage.googleapis.com';
/** Error bodies are read up to this many bytes for their message; GCS's are a few hundred. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** An HTTP error answer, shaped like the SDK's ApiError (status in `code`, GCS's reasons in `errors`), so both map alike. */
export class GsHttpError extends TidemarkError {
  override name = 'GsHttpError';

  constructor(
    readonly code: number,
    message: string,
    readonly errors: { reason?: string; message?: string }[],
  ) {
    super(message);
  }
}

export interface GsMediaRequest {
  /** Emulator base URL, or GS_API_ORIGIN. */
  origin: string;
  bucket: string;
  object: string;
  generation: string | undefined;
  /** First byte and the byte after the last (undefined: to the end). */
  start: number;
  end: number | undefined;
  headers: Record<string, string>;
  signal: AbortSignal;
}

/** Sends the GET; resolves with the response once its headers are in (2xx only), rejects with GsHttpError for an error status. */
export function openGsMedia(r: GsMediaRequest): Promise<IncomingMessage> {
  const url = new URL(`${r.origin}/storage/v1/b/${encodeURIComponent(r.bucket)}/o/${encodeURIComponent(r.object)}`);
  url.searchParams.set('alt', 'media');
  if (r.generation !== undefined) url.searchParams.set('generation', r.generation);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'GET',
        signal: r.signal,
        headers: {
          ...r.headers,
          range: `bytes=${r.start}-${r.end === undefined ? '' : r.end - 1}`,
          // Bytes as stored: ranges count stored bytes, and LTX files are not stored compressed.
          'accept-encoding': 'identity',
          'cache-control': 'no-store',
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(res);
          return;
        }
        readErrorBody(res).then(
          (body) => reject(httpError(status, res.statusMessage, body)),
          () => reject(httpError(status, res.statusMessage, '')),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function readErrorBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let have = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    if (have < MAX_ERROR_BODY_BYTES) chunks.push(c);
    have += c.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function httpError(status: number, statusMessage: string | undefined, body: string): GsHttpError {
  let message = statusMessage ?? `HTTP ${status}`;
  let errors: { reason?: string; message?: string }[] = [];
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown; errors?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    if (Array.isArray(parsed.error?.errors)) errors = parsed.error.errors as typeof errors;
  } catch {
    // The emulator answers some errors in plain text: the status line says enough then.
    if (body.trim() !== '' && body.length < 300) message = body.trim();
  }
  return new GsHttpError(status, message, errors);
}
