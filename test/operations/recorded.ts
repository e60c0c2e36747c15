/**
 * A recorded-response transport for the real Azure SDK clients: the client builds and sends its
 * requests through its own pipeline (auth, serialization, paging), and this HttpClient answers
 * from fixture files instead of the network. Every request is kept so tests can assert what the
 * client asked for (method, path, body) — e.g. that a read-only command sent no write.
 */
import * as fs from "fs";
import * as path from "path";
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import type { AccessToken, TokenCredential } from "@azure/core-auth";

export interface Interaction {
  method: string;
  /** Path without query; `{sub}` etc. are not templated: fixtures hold concrete paths. */
  path: string;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface SentRequest {
  method: string;
  path: string;
  query: string;
  body?: unknown;
  authorization?: string;
}

export const fixturesDir = path.join(__dirname, "..", "fixtures", "operations");

export function loadInteractions(file: string): Interaction[] {
  return (JSON.parse(fs.readFileSync(path.join(fixturesDir, file), "utf8")) as { interactions: Interaction[] }).interactions;
}

export class RecordedTransport implements HttpClient {
  readonly sent: SentRequest[] = [];
  /** Interactions matched in order for the same method+path (a PUT then a GET of the same resource). */
  private readonly pending: Interaction[];

  constructor(interactions: Interaction[]) {
    this.pending = [...interactions];
  }

  add(...i: Interaction[]): void {
    this.pending.push(...i);
  }

  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    const url = new URL(request.url);
    const body = typeof request.body === "string" ? safeJson(request.body) : undefined;
    this.sent.push({
      method: request.method,
      path: decodeURIComponent(url.pathname),
      query: url.search,
      body,
      authorization: request.headers.get("authorization"),
    });
    const idx = this.pending.findIndex(
      (i) => i.method.toUpperCase() === request.method && i.path.toLowerCase() === decodeURIComponent(url.pathname).toLowerCase(),
    );
    const headers = createHttpHeaders({ "content-type": "application/json", "x-ms-request-id": "recorded" });
    if (idx < 0) {
      // An unrecorded request is a test failure with a clear message, never a silent success.
      return {
        request,
        status: 599,
        headers,
        bodyAsText: JSON.stringify({ error: { code: "Unrecorded", message: `no recorded response for ${request.method} ${url.pathname}` } }),
      };
    }
    const hit = this.pending[idx];
    // Keep the last interaction for a path reusable (GETs polled repeatedly); consume the others.
    const more = this.pending.some((i, j) => j > idx && i.method === hit.method && i.path.toLowerCase() === hit.path.toLowerCase());
    if (more) this.pending.splice(idx, 1);
    for (const [k, v] of Object.entries(hit.headers ?? {})) headers.set(k, v);
    return { request, status: hit.status, headers, bodyAsText: hit.body === undefined ? "" : JSON.stringify(hit.body) };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A credential that hands out a fixed fake token, so the SDK's bearer policy runs as in production. */
export class FakeCredential implements TokenCredential {
  readonly scopes: string[] = [];
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    this.scopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
    return { token: "fake-arm-token", expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}
