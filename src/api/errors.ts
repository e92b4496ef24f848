// The API's error shape (DESIGN.md, Interfaces): {"error": {"code", "message"}} with the
// matching HTTP status. Handlers throw ApiError for expected failures; anything else is a 500.

export const API_ERROR_STATUS = {
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  'payload-too-large': 413,
  'no-leader': 503,
  'no-quorum': 503,
  unavailable: 503,
  timeout: 504,
  /** The node's disk is full; it recovers by itself once space returns. */
  'insufficient-storage': 507,
  internal: 500,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERROR_STATUS[code];
  }
}
