// client.ts — a small typed client of a treaty node, built only on the types openapi-typescript
// generates from GET /v1/openapi.json (treaty-api.d.ts, written next to this file by the test).
// Every record route is typed from the document: the body a create takes, what a read returns.
import type { components, paths } from "./treaty-api.js";

export type Problem = components["schemas"]["Problem"];

// Paths of record collections ("/v1/data/Shipment") and their item paths.
type DataPath = Extract<keyof paths, `/v1/data/${string}`>;
type ItemPath<P extends DataPath> = `${P}/{key}` & keyof paths;

type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : never;

export type CreateBody<P extends DataPath> = paths[P] extends {
  post: { requestBody: { content: { "application/json": infer B } } };
}
  ? B
  : never;
export type Created<P extends DataPath> = paths[P] extends {
  post: { responses: { 201: infer R } };
}
  ? JsonOf<R>
  : never;
export type Read<P extends DataPath> = paths[ItemPath<P>] extends {
  get: { responses: { 200: infer R } };
}
  ? JsonOf<R>
  : never;
export type Page<P extends DataPath> = paths[P] extends { get: { responses: { 200: infer R } } }
  ? JsonOf<R>
  : never;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.title}: ${problem.detail ?? ""}`);
  }
}

export class TreatyClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey?: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.apiKey) headers["Authorization"] = `Bearer ${this.apiKey}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (res.status >= 400) throw new ApiError(res.status, parsed as Problem);
    return parsed as T;
  }

  create<P extends DataPath>(path: P, record: CreateBody<P>): Promise<Created<P>> {
    return this.call("POST", path, record);
  }

  get<P extends DataPath>(path: P, key: string): Promise<Read<P>> {
    return this.call("GET", `${path}/${encodeURIComponent(key)}`);
  }

  list<P extends DataPath>(path: P, query: Record<string, string> = {}): Promise<Page<P>> {
    const q = new URLSearchParams(query).toString();
    return this.call("GET", q ? `${path}?${q}` : path);
  }
}
