import { HttpFaultProxy, type FaultAction, type HttpFaultRuleBase } from '../http-fault-proxy.js';

export interface WebdavFaultRule extends HttpFaultRuleBase<string> {
  /** An HTTP status to answer with, without reaching the server; or 'reset' to cut the connection before any response. */
  reply: number | 'reset';
}

export interface LoggedWebdavRequest {
  method: string;
  path: string;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  range: string | undefined;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a WebDAV server that counts
 * requests by method and, following the rules it is given (`on` names
 * methods), answers some with an error status or cuts their connection.
 * Connection-level faults (stalls, cuts mid-body) are TcpFaultProxy's.
 */
export class WebdavFaultProxy extends HttpFaultProxy<string, WebdavFaultRule, LoggedWebdavRequest> {
  /** Drop Range headers before they reach the server, as a server without range support would ignore them. */
  ignoreRange = false;

  private constructor(target: string) {
    super(target, {
      classify: (req) => req.method ?? 'GET',
      log: (req, method) => ({
        method,
        path: decodeURIComponent(req.url ?? '/'),
        contentLength: req.headers['content-length'],
        transferEncoding: req.headers['transfer-encoding'],
        range: req.headers.range,
      }),
      act: (req, rule): FaultAction => {
        if (rule?.reply === 'reset') return { do: 'reset' };
        if (rule !== undefined) return { do: 'reply', status: rule.reply, headers: { 'content-type': 'text/plain' } };
        if (!this.ignoreRange) return { do: 'forward' };
        const headers = { ...req.headers };
        delete headers.range;
        delete headers['if-match'];
        return { do: 'forward', headers };
      },
    });
  }

  /** Starts a proxy in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<WebdavFaultProxy> {
    return new WebdavFaultProxy(target).listen();
  }
}
