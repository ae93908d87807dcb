// Type declarations of @aiproxy/client (src/index.js). Written by hand: the package has no
// build step and no dependencies.

export declare const DEFAULT_PREFIX: '/api/ai-proxy';
export declare const TERMINAL_JOB_STATES: readonly ['completed', 'failed'];

/** A file for a multipart or binary action. */
export type FileData = Blob | ArrayBuffer | ArrayBufferView | string;
export type FileValue =
  | FileData
  | { data: FileData; filename?: string; contentType?: string; content_type?: string };

/** The invoke envelope (contract §4). */
export interface Envelope {
  body?: unknown;
  query?: Record<string, string | number | boolean | null | Array<string | number | boolean>>;
  headers?: Record<string, string>;
  path_params?: Record<string, string | number>;
  /** Field name → one file or a list of files; sent as a multipart envelope. */
  files?: Record<string, FileValue | FileValue[]>;
}

export interface UploadProgress {
  /** Bytes handed to the network so far. */
  loaded: number;
  /** Bytes in the whole request body. */
  total: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Called as the request body is sent (Node: bytes pulled by fetch; browsers: XHR upload events). */
  onUploadProgress?: (progress: UploadProgress) => void;
  /** Sent as `Idempotency-Key` (contract §14). */
  idempotencyKey?: string;
  /** Sent as `X-Request-Id`. */
  requestId?: string;
  /** Extra request headers for the gateway (browsers: only the ones CORS allows). */
  headers?: Record<string, string>;
}

export type ReadAs = 'auto' | 'json' | 'text' | 'blob' | 'arrayBuffer' | 'stream' | 'response';

export interface InvokeOptions extends RequestOptions {
  /** How to read the answer; 'auto' (default) goes by its content type. */
  as?: ReadAs;
}

export interface ClientOptions {
  /** The gateway's base URL (scheme + host [+ mount path]); defaults to the page's origin in a browser. */
  baseUrl?: string;
  /** The org's slug. */
  org: string;
  /** An aiproxy API key: sent as `Authorization: Api-Key <key>`. */
  apiKey?: string;
  /** A browser token: sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** The route prefix (`--prefix`); default `/api/ai-proxy`. */
  prefix?: string;
  /** A fetch implementation; default the global one. */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /**
   * How a request with onUploadProgress is sent: 'xhr' (XMLHttpRequest), 'stream' (fetch
   * with a counting ReadableStream body, duplex 'half'; browsers allow that over HTTP/2 only),
   * or 'auto' (default): 'xhr' where XMLHttpRequest exists, else 'stream'.
   */
  uploadTransport?: 'auto' | 'stream' | 'xhr';
}

export interface ServiceSummary {
  slug: string;
  display_name: string;
  service_type: string;
  is_enabled: boolean;
  supports_async_jobs: boolean;
  supports_streaming: boolean;
  credential_name: string;
  endpoint_count: number;
  [extra: string]: unknown;
}

export interface Endpoint {
  slug: string;
  path_template: string;
  http_method: string;
  request_mode: 'raw' | 'json' | 'multipart' | 'binary';
  response_mode: 'json' | 'passthrough' | 'stream';
  supports_streaming: boolean;
  callback_mode: 'none' | 'poll';
  is_enabled: boolean;
  description?: string;
  path_params?: string[];
  required_query?: string[];
  file_fields?: string[];
  poll_action?: string;
  deprecated?: boolean;
  successor?: string | null;
  [extra: string]: unknown;
}

export interface ServiceDetail extends ServiceSummary {
  base_url: string;
  endpoints: Endpoint[];
}

export type JobStatus = 'queued' | 'processing' | 'completed' | 'failed';

export interface Job {
  id: number;
  service: string;
  action: string;
  upstream_job_id: string;
  /** null: an object whose state the gateway does not follow. */
  status: JobStatus | null;
  provider_status: string | null;
  credential_source: string;
  request_id: string;
  created_at: string;
  updated_at: string;
  result: Record<string, unknown> | null;
  error: unknown;
  [extra: string]: unknown;
}

export interface JobsPage {
  results: Job[];
  next: string | null;
}

export interface WaitForJobOptions {
  /** With a provider id: the service to look in. */
  service?: string;
  /** Seconds per wait call (1–300, default 60). */
  waitSeconds?: number;
  /** Give up after this long (default 15 minutes) with JobTimeoutError. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with the job view at first and each time it changes. */
  onProgress?: (job: Job) => void;
  /** Throw JobFailedError when the job ends failed (default false: resolve with it). */
  throwOnFailure?: boolean;
}

export interface BrowserToken {
  token: string;
  prefix: string;
  name: string;
  role: string;
  scopes: string[] | null;
  expires_at: string;
}

/** A non-2xx answer of the gateway. */
export declare class AiproxyError extends Error {
  name: 'AiproxyError';
  /** The gateway's HTTP status. */
  status: number;
  /** `detail || error` of the body (contract: every error has one of the two). */
  detail: string | null;
  /** The provider's status when the provider refused the call (502, 429), else null. */
  upstreamStatus: number | null;
  /** The provider's error body (JSON or text), when given. */
  upstreamBody: unknown;
  /** Seconds from the Retry-After header, else null. */
  retryAfter: number | null;
  /** X-Request-Id of the answer. */
  requestId: string | null;
  /** The parsed JSON body (undefined when not JSON). */
  body: any;
  /** The body text. */
  text: string;
  method?: string;
  url?: string;
}

export declare class JobTimeoutError extends Error {
  name: 'JobTimeoutError';
  job: Job;
}

export declare class JobFailedError extends Error {
  name: 'JobFailedError';
  job: Job;
}

export declare function pathParamsOf(pathTemplate: string): string[];
export declare function readByContentType(res: Response): Promise<any>;
export declare function multipartEnvelope(envelope: Envelope): FormData;

export declare class AiproxyClient {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  readonly prefix: string;
  readonly org: string;
  readonly authorization: string;

  /** The same gateway and org, authenticating with a browser token. */
  withToken(token: string): AiproxyClient;
  orgUrl(path: string): string;
  request(method: string, url: string, init?: {
    body?: BodyInit | null; headers?: Record<string, string>; signal?: AbortSignal;
    onUploadProgress?: (p: UploadProgress) => void;
  }): Promise<Response>;
  getJSON<T = any>(path: string, options?: { signal?: AbortSignal }): Promise<T>;

  listServices(options?: { signal?: AbortSignal }): Promise<ServiceSummary[]>;
  getService(service: string, options?: { signal?: AbortSignal; refresh?: boolean }): Promise<ServiceDetail>;
  discover(options?: { signal?: AbortSignal }): Promise<ServiceDetail[]>;
  findEndpoint(service: string, pathTemplate: string, method?: string, options?: { signal?: AbortSignal }): Promise<Endpoint | null>;

  invokeRaw(service: string, action: string, envelope?: Envelope, options?: RequestOptions): Promise<Response>;
  invoke<T = any>(service: string, action: string, envelope?: Envelope, options?: InvokeOptions & { as?: 'auto' | 'json' }): Promise<T>;
  invoke(service: string, action: string, envelope: Envelope, options: InvokeOptions & { as: 'text' }): Promise<string>;
  invoke(service: string, action: string, envelope: Envelope, options: InvokeOptions & { as: 'blob' }): Promise<Blob>;
  invoke(service: string, action: string, envelope: Envelope, options: InvokeOptions & { as: 'arrayBuffer' }): Promise<ArrayBuffer>;
  invoke(service: string, action: string, envelope: Envelope, options: InvokeOptions & { as: 'stream' }): Promise<ReadableStream<Uint8Array>>;
  invoke(service: string, action: string, envelope: Envelope, options: InvokeOptions & { as: 'response' }): Promise<Response>;
  stream(service: string, action: string, envelope?: Envelope, options?: RequestOptions): Promise<ReadableStream<Uint8Array>>;

  listJobs(query?: { service?: string; status?: JobStatus; limit?: number; cursor?: string | number }, options?: { signal?: AbortSignal }): Promise<JobsPage>;
  getJob(id: number | string, options?: { wait?: number; signal?: AbortSignal }): Promise<Job>;
  findJob(upstreamJobId: string, options?: { service?: string; maxPages?: number; signal?: AbortSignal }): Promise<Job | null>;
  waitForJob(job: number | string | { id: number }, options?: WaitForJobOptions): Promise<Job>;

  mintBrowserToken(options?: { scopes?: string[]; ttlSeconds?: number; name?: string; signal?: AbortSignal }): Promise<BrowserToken>;
}

export declare function createClient(options: ClientOptions): AiproxyClient;
export default AiproxyClient;
